"""`ptft demo` end to end on tiny stand-ins for Fashion-MNIST (same IDX layout, 28x28, 10 classes) and WordNet."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import ptft
from ptft import cli, demo
from ptft.config import DemoConfig
from tests.conftest import write_idx


def fake_fashion_mnist(folder: Path, n_train: int = 400, n_test: int = 100) -> Path:
    """Class k = a bright horizontal band at row 2k + 4: learnable, and the IDX files look like the real ones."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for split, n in (("train", n_train), ("t10k", n_test)):
        labels = np.arange(n) % 10
        images = rng.integers(0, 40, (n, 28, 28)).astype(np.uint8)
        for i, k in enumerate(labels):
            images[i, 2 * k + 4 : 2 * k + 6, 4:24] = 230
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{split}-labels-idx1-ubyte.gz", labels)
    return folder


def test_the_demo_is_a_compare_that_prints_the_verdict_and_writes_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = fake_fashion_mnist(tmp_path / "fmnist")
    monkeypatch.setattr(demo, "FINETUNE_LOOP", replace(demo.FINETUNE_LOOP, steps=6, eval_every=3, precision="fp32"))
    monkeypatch.setattr(demo, "PRETRAIN_LOOP", replace(demo.PRETRAIN_LOOP, batch_size=32, progress=False))
    monkeypatch.setattr(demo, "PRETRAIN_MODEL", replace(demo.PRETRAIN_MODEL, dim=16, depth=2))
    monkeypatch.chdir(tmp_path)  # the demo's own folder is relative: runs/demo-fashion-mnist
    cfg = DemoConfig(data_dir=str(data), pretrain_minutes=0.03, seeds=2, labels_per_class=4)
    demo.run_demo(cfg)
    out = capsys.readouterr().out
    assert "4 labels per class (in all)" in out and "=> pre-training (" in out  # the table, then the verdict
    assert "k-NN probe" in out  # what the pre-training learnt, watched on labelled training images
    folder = tmp_path / "runs" / "demo-fashion-mnist"
    results = json.loads((folder / "compare" / "results.json").read_text())
    methods = ("logreg", "scratch", "linear", "full", "lp-ft")
    assert [r["method"] for r in results["rows"]] == [*methods, *methods]  # seed 0, then seed 1
    assert {r["seed"] for r in results["rows"]} == {0, 1} and all(0 <= r["accuracy"] <= 1 for r in results["rows"])
    starts = {r["pretrained"] for r in results["rows"] if r["method"] not in ("logreg", "scratch")}
    assert starts == {"runs/demo-fashion-mnist/pretrain"}
    assert results["verdicts"][0]["sentences"][0] in out
    assert "ptft compare" in (folder / "compare" / "report.md").read_text()
    assert (folder / "compare" / "report.html").is_file()
    for plot in ("pretrain_curve.png", "finetune_curves.png"):
        assert (folder / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a second demo never replaces the first
    demo.run_demo(replace(cfg, seeds=1))
    assert (tmp_path / "runs" / "demo-fashion-mnist-2" / "compare" / "results.json").is_file()
    again = json.loads((folder / "compare" / "results.json").read_text())
    assert again["rows"] == results["rows"]


def test_the_wordnet_demo_runs_on_a_tiny_stand_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.conftest import synthetic_lines, write_noun_file

    folder = tmp_path / "wordnet"
    write_noun_file(folder, synthetic_lines({5: 30, 6: 30, 13: 30}))
    monkeypatch.setattr(demo, "minilm_path", lambda: "")  # the MiniLM rows are the bench's (and slow here)
    monkeypatch.setattr(demo, "TEXT_MODEL", replace(demo.TEXT_MODEL, dim=16, depth=1, heads=2))
    monkeypatch.setattr(demo, "TEXT_OPTIONS", replace(demo.TEXT_OPTIONS, vocab_size=100, max_length=16))
    monkeypatch.setattr(demo, "TEXT_PRETRAIN_LOOP", replace(demo.TEXT_PRETRAIN_LOOP, batch_size=16, progress=False))
    loop = replace(demo.TEXT_FINETUNE_LOOP, steps=4, eval_every=2, precision="fp32")
    monkeypatch.setattr(demo, "TEXT_FINETUNE_LOOP", loop)
    # 40 labels per class is more than the stand-in's classes hold: every fine-tuning run (and the baseline's
    # split) says so; through the CLI that is one line in ptft's words, once for the whole demo
    argv = ["demo", "--task", "wordnet-supersenses", "--data-dir", str(folder), "--out", str(tmp_path / "demo"),
            "--pretrain-minutes", "0.02", "--seeds", "1", "--labels-per-class", "40"]  # fmt: skip
    assert cli.main(argv) == 0
    captured = capsys.readouterr()
    assert captured.err.count("ptft: note: ") == 1 and "class(es) have fewer than 30 + 10" in captured.err
    assert "Warning" not in captured.err and "label_budget(" not in captured.err  # no Python warning, no source
    results = json.loads((tmp_path / "demo" / "compare" / "results.json").read_text())
    assert [r["method"] for r in results["rows"]] == ["tfidf-logreg", "scratch", "full", "self-train"]
    assert "WordNet noun supersenses" in captured.out and "mlm" in captured.out
    meta = json.loads((tmp_path / "demo" / "pretrain" / "ptft.json").read_text())
    assert meta["modality"] == "text" and "leakage" in meta["data"]  # --holdout ran (its count: test_leakage.py)
    tuned = json.loads((tmp_path / "demo" / "compare" / "runs" / "scratch-k40-seed0" / "ptft.json").read_text())
    assert len(tuned["notes"]) == 1 and "fewer than 30 + 10" in tuned["notes"][0]  # kept in the run's report
    assert tuned["config"]["loop"]["lr"] == 1e-3  # the text task's scratch rate, not the image one
    cfg = DemoConfig(task="wordnet-supersenses", data_dir=str(folder))
    with pytest.raises(ptft.errors.ConfigError, match="unknown demo task 'imagenet'"):
        demo.run_demo(replace(cfg, task="imagenet"))
    with pytest.raises(ptft.errors.ConfigError, match="'pretrain_minutes' is a time budget"):
        replace(cfg, pretrain_minutes=-1)


def test_the_table_demo_runs_on_the_built_in_letter_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ptft.data.table_builtin import R_TABLES, find_rda
    from ptft.errors import DataError

    try:
        find_rda(R_TABLES["letter"], "")
    except DataError as exc:
        pytest.skip(f"the built-in tables are not unpacked here ({exc}); make data-tables unpacks them")
    monkeypatch.setattr(demo, "TABLE_FINETUNE_LOOP", replace(demo.TABLE_FINETUNE_LOOP, steps=10, eval_every=5))
    monkeypatch.setattr(demo, "TABLE_MODEL", replace(demo.TABLE_MODEL, dim=16, depth=2))
    monkeypatch.setattr(demo, "TABLE_MINUTES", 0.02)  # the task's own budget, taken when none is given
    monkeypatch.chdir(tmp_path)
    demo.run_demo(DemoConfig(task="letter", seeds=1, labels_per_class=3))
    out = capsys.readouterr().out
    assert "for up to 0.02 minutes" in out
    assert "3 labels per class (in all)" in out and "ptft's best" in out
    results = json.loads((tmp_path / "runs" / "demo-letter" / "compare" / "results.json").read_text())
    assert [r["method"] for r in results["rows"]] == ["logreg", "lightgbm", "knn", "scratch", "full", "lp-ft"]

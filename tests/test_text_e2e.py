"""Text end to end on the same spine as images: pretrain (MLM) -> finetune -> evaluate -> predict via the
CLI, fine-tuning a Hugging Face BERT folder (`hf:PATH`) into a normal bundle, and bad input."""

from __future__ import annotations

import csv
import json
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import ptft
from ptft import cli
from ptft.api import FineTuner, Pretrainer
from ptft.data.types import TextSet
from ptft.modalities import MODALITIES, read_data
from tests.conftest import fit_text_pipeline, synthetic_texts

TINY = ["--dim", "16", "--depth", "2", "--heads", "2", "--batch-size", "16", "--no-progress", "--precision", "fp32"]
TEXT = ["--vocab-size", "150", "--max-length", "24"]


def write_jsonl(path: Path, texts: TextSet, label: bool = True) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        for text, k in zip(texts.texts, texts.labels if texts.labels is not None else [None] * len(texts)):
            row: dict[str, Any] = {"text": text}
            if label and k is not None:
                row["label"] = texts.label_names[int(k)]
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("text")
    train, test = synthetic_texts(160, seed=0), synthetic_texts(40, seed=1)
    return {
        "train": write_jsonl(folder / "train.jsonl", train),
        "test": write_jsonl(folder / "test.jsonl", test),
        "unlabeled": write_jsonl(folder / "pool.jsonl", train, label=False),
    }


def test_pretrain_finetune_evaluate_predict_via_cli(corpus: dict[str, Path], tmp_path: Path) -> None:
    pre, ft = tmp_path / "pre", tmp_path / "ft"
    argv = ["pretrain", "--data", str(corpus["unlabeled"]), "--out", str(pre), "--steps", "6", *TINY, *TEXT]
    assert cli.main(argv) == 0
    meta = json.loads((pre / "ptft.json").read_text())
    assert meta["modality"] == "text" and meta["objective"] == "mlm" and meta["encoder"]["name"] == "transformer"
    assert meta["data"]["tokens"] > 0 and meta["metrics"]["tokens_per_second"] > 0
    assert not (pre / "preprocessor.json").exists()  # the bundle holds it
    argv = ["finetune", "--data", str(corpus["train"]), "--pretrained", str(pre), "--out", str(ft)]
    argv += ["--labels-per-class", "8", "--steps", "60", "--lr", "3e-3", "--test", str(corpus["test"]), *TINY]
    assert cli.main(argv) == 0
    metrics = json.loads((ft / "ptft.json").read_text())["metrics"]
    assert metrics["test"]["n"] == 40 and metrics["train_labels"] == 32
    assert metrics["test"]["accuracy"] > 0.5  # 4 topics, chance 0.25: the model reads the words
    assert cli.main(["evaluate", str(ft), "--data", str(corpus["test"])]) == 0
    out = tmp_path / "pred.csv"
    assert cli.main(["predict", str(ft), "--data", str(corpus["unlabeled"]), "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert len(rows) == 160 and rows[0]["id"].endswith("pool.jsonl:1") and rows[0]["prediction"] in TOPICS
    # The API gives the same answers from the loaded bundle, for raw strings too.
    model = ptft.load(ft)
    texts = synthetic_texts(40, seed=1).texts
    assert model.predict(texts) == ptft.load(ft).predict(texts)
    assert model.embed(texts).shape == (40, 16)


TOPICS = {"animal", "food", "place", "tool"}


def test_self_train_uses_the_text_pool_and_fixmatch_is_refused(corpus: dict[str, Path], tmp_path: Path) -> None:
    options = {"dim": 16, "depth": 2, "heads": 2, "progress": False, "vocab_size": 150, "max_length": 24}
    tuner = FineTuner(
        data=str(corpus["train"]), out=str(tmp_path / "st"), strategy="self-train", steps=30, labels_per_class=8,
        pseudo_threshold=0.0, **options,
    ).fit()  # fmt: skip
    assert tuner.metrics_["pseudo_labels"] > 0 and tuner.metrics_["train_labels"] == 32
    with pytest.raises(ptft.errors.ConfigError, match="fixmatch"):
        FineTuner(data=str(corpus["train"]), out=str(tmp_path / "fm"), strategy="fixmatch", **options).fit()


def test_resume_reuses_the_tokenizer_the_run_started_with(
    corpus: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    options = {"dim": 16, "depth": 2, "heads": 2, "batch_size": 16, "progress": False, "precision": "fp32"}
    options.update(vocab_size=150, max_length=24, steps=8, checkpoint_every=4)
    out = tmp_path / "pre"
    with pytest.raises(ptft.api.RunInterrupted):
        Pretrainer(data=str(corpus["unlabeled"]), out=str(out), **options).fit(stop_at=4)
    started = json.loads((out / "preprocessor.json").read_text())

    def refit(*args: Any) -> Any:
        raise AssertionError("a resumed run must not fit its preprocessing again")

    monkeypatch.setattr(MODALITIES.get("text"), "fit_preprocessor", refit)
    resumed = Pretrainer(data=str(corpus["unlabeled"]), out=str(out), resume=True, **options).fit()
    assert resumed.result.steps == 8
    assert json.loads((out / "ptft.json").read_text())["preprocessor"] == started


def test_finetune_a_hugging_face_folder_into_a_normal_bundle(tmp_path: Path, corpus: dict[str, Path]) -> None:
    from tests.conftest import write_tiny_bert

    folder = tmp_path / "tiny-bert"
    hf = write_tiny_bert(folder)
    out = tmp_path / "ft"
    argv = ["finetune", "--data", str(corpus["train"]), "--from", f"hf:{folder}", "--out", str(out)]
    assert cli.main([*argv, "--labels-per-class", "4", "--steps", "2", "--no-progress"]) == 0
    meta = json.loads((out / "ptft.json").read_text())
    assert meta["encoder"]["name"] == "bert" and meta["pretrained_from"]["kind"] == "huggingface"
    tuner_model = ptft.load(out)
    texts = synthetic_texts(12, seed=3).texts
    np.testing.assert_array_equal(tuner_model.predict_proba(texts), ptft.load(out).predict_proba(texts))
    # Two steps moved the weights away from the import, but the encoder is still the imported BERT.
    tokens = tuner_model.transform(texts[:2]).x
    with torch.no_grad():
        ours = tuner_model.encoder.eval()(tokens)
        theirs = hf(input_ids=tokens, attention_mask=(tokens != 0).long()).last_hidden_state[:, : ours.shape[1]]
    assert not torch.allclose(ours, theirs, atol=1e-6) and torch.allclose(ours, theirs, atol=0.5)


# ---- bad input ----


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = cli.main(argv)
    return code, capsys.readouterr().err


def test_empty_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    code, err = run(["pretrain", "--data", str(empty), "--out", str(tmp_path / "r"), *TINY], capsys)
    assert code == 2 and f"{empty}: holds no texts" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_invalid_utf8_names_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine line\nbroken \xff\xfe line\n")
    code, err = run(["pretrain", "--data", str(bad), "--out", str(tmp_path / "r"), *TINY], capsys)
    assert code == 2 and f"{bad}:2" in err and "--skip-bad N" in err
    argv = ["pretrain", "--data", str(bad), "--out", str(tmp_path / "r"), "--skip-bad", "1", "--steps", "1", *TINY]
    assert cli.main(argv) == 0
    err = capsys.readouterr().err
    assert err.count("ptft: note: skipped 1 bad record(s)") == 1 and f"first: {bad}:2: invalid UTF-8" in err
    meta = json.loads((tmp_path / "r" / "ptft.json").read_text())
    assert meta["data"]["skipped"] == 1 and meta["notes"] == [line[len("ptft: note: ") :] for line in err.splitlines()]


def test_missing_text_or_label_column(
    corpus: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["finetune", "--data", str(corpus["train"]), "--out", str(tmp_path / "r"), *TINY]
    code, err = run([*argv, "--text-column", "sentence"], capsys)
    assert code == 2 and f"{corpus['train']}:1: no column 'sentence'" in err and "'text'" in err
    code, err = run(["finetune", "--data", str(corpus["unlabeled"]), "--out", str(tmp_path / "r"), *TINY], capsys)
    assert code == 2 and "no column 'label'" in err


def test_unknown_label_at_evaluation(
    corpus: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ft = tmp_path / "ft"
    argv = ["finetune", "--data", str(corpus["train"]), "--out", str(ft), "--steps", "1", "--labels-per-class", "2"]
    assert cli.main([*argv, *TINY, *TEXT]) == 0
    other = tmp_path / "other.jsonl"
    other.write_text('{"text": "a cat and a dog", "label": "animals"}\n', encoding="utf-8")
    code, err = run(["evaluate", str(ft), "--data", str(other)], capsys)
    assert code == 2 and "label 'animals' is not among the 4 labels" in err and "did you mean 'animal'" in err


def test_a_50_mb_line_is_read_and_truncated_in_bounded_memory(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    with open(big, "w", encoding="utf-8") as fh:
        fh.write("short first line\n")
        fh.write("word " * 10_000_000 + "\n")  # 50 MB on one line
        fh.write("short last line\n")
    pipeline = fit_text_pipeline(synthetic_texts(40), ptft.config.DataConfig(vocab_size=150, max_length=24))
    tracemalloc.start()
    texts = read_data(str(big), labels=False)
    ids = pipeline.transform(texts.texts)  # type: ignore[union-attr]
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert ids.shape == (3, 24) and pipeline.truncated_count == 1
    assert peak < 4 * 50_000_000  # the line itself, a copy or two; not the tokens of 10 M words

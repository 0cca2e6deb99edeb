"""End to end through `ptft.cli.main`: pretrain -> finetune (full, linear, self-train) -> evaluate -> predict
on a tiny .npz, plus help texts, bad options and values, TOML configs and missing paths."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ptft
from ptft import cli
from ptft.config import flat_fields
from ptft.data.types import ImageSet

TINY = ["--dim", "16", "--depth", "2", "--batch-size", "8", "--no-progress", "--precision", "fp32"]


@pytest.fixture(scope="module")
def data_npz(tmp_path_factory: pytest.TempPathFactory, labelled_images: ImageSet) -> Path:
    path = tmp_path_factory.mktemp("data") / "tiny.npz"
    np.savez(
        path,
        images=labelled_images.images,
        labels=labelled_images.labels,
        label_names=np.array(labelled_images.label_names),
    )
    return path


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory: pytest.TempPathFactory, data_npz: Path) -> Path:
    out = tmp_path_factory.mktemp("cli") / "pre"
    argv = ["pretrain", "--data", str(data_npz), "--out", str(out), "--encoder", "cnn", "--objective", "simclr"]
    assert cli.main([*argv, "--steps", "4", *TINY]) == 0
    return out


def test_pretrain_writes_a_loadable_bundle(pretrained: Path, data_npz: Path, labelled_images: ImageSet) -> None:
    model = ptft.load(pretrained)
    assert model.meta["kind"] == "pretrain" and model.meta["metrics"]["steps"] == 4
    assert model.meta["data"]["source"] == str(data_npz) and model.meta["data"]["n"] == len(labelled_images)
    assert model.meta["data"]["fingerprint"] == labelled_images.fingerprint()
    config = json.loads((pretrained / "config.json").read_text())
    assert config["model"]["dim"] == 16 and config["loop"]["steps"] == 4 and config["objective"] == "simclr"
    assert model.embed(labelled_images.images[:3]).shape == (3, 16)


FINETUNE_OPTIONS = {
    "full": ["--steps", "40", "--lr", "3e-3"],
    "linear": ["--steps", "20", "--lr", "1e-2"],
    "self-train": ["--steps", "20", "--lr", "3e-3", "--pseudo-threshold", "0.3"],
    "fixmatch": ["--steps", "20", "--lr", "3e-3", "--pseudo-threshold", "0.3", "--pool-ratio", "2"],
}


@pytest.mark.parametrize("strategy", list(FINETUNE_OPTIONS))
def test_finetune_evaluate_predict(
    strategy: str,
    pretrained: Path,
    data_npz: Path,
    labelled_images: ImageSet,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run = tmp_path / "ft"
    argv = ["finetune", "--data", str(data_npz), "--pretrained", str(pretrained), "--out", str(run)]
    argv += ["--strategy", strategy, "--labels-per-class", "4", "--val-per-class", "4", "--eval-every", "10"]
    assert cli.main([*argv, *FINETUNE_OPTIONS[strategy], *TINY]) == 0
    out = capsys.readouterr().out
    assert f"fine-tuned ({strategy})" in out and str(run) in out
    meta = ptft.load(run).meta
    assert meta["kind"] == "finetune" and meta["label_names"] == labelled_images.label_names
    assert meta["metrics"]["train_labels"] == 16 and meta["metrics"]["val_labels"] == 16
    if strategy == "self-train":
        assert meta["metrics"]["pseudo_labels"] > 0 and meta["metrics"]["kept"] in ("teacher", "student")

    # evaluate: prints accuracy and the confusion matrix, writes the JSON report next to the run
    assert cli.main(["evaluate", str(run), "--data", str(data_npz)]) == 0
    out = capsys.readouterr().out
    reports = list(run.glob("eval-*.json"))
    assert len(reports) == 1 and f"report: {reports[0]}" in out
    report = json.loads(reports[0].read_text())
    assert report["n"] == len(labelled_images) and report["labels"] == labelled_images.label_names
    assert np.array(report["confusion_matrix"]).sum() == len(labelled_images)
    printed = re.search(r"accuracy ([\d.]+) %", out)
    assert printed and float(printed.group(1)) == pytest.approx(100 * report["accuracy"], abs=0.01)
    if strategy == "full":
        assert report["accuracy"] >= 0.9  # the pixels decide the class: fine-tuning must learn it

    # predict: a CSV with a header, one row per image, probabilities that agree with the prediction
    csv_path = tmp_path / "predictions.csv"
    assert cli.main(["predict", str(run), "--data", str(data_npz), "--out", str(csv_path)]) == 0
    assert f"wrote {len(labelled_images)} predictions" in capsys.readouterr().out
    with open(csv_path, newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["id", "prediction", *(f"p_{name}" for name in labelled_images.label_names)]
    assert len(rows) == 1 + len(labelled_images)
    assert [row[0] for row in rows[1:]] == [f"{data_npz}#{i}" for i in range(len(labelled_images))]
    proba = np.array([[float(v) for v in row[2:]] for row in rows[1:]])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-3)
    names = labelled_images.label_names
    assert [row[1] for row in rows[1:]] == [names[i] for i in proba.argmax(axis=1)]
    assert labelled_images.labels is not None
    accuracy = np.mean([row[1] == names[k] for row, k in zip(rows[1:], labelled_images.labels)])
    assert accuracy == pytest.approx(report["accuracy"])  # predict and evaluate agree

    # predict never overwrites silently
    assert cli.main(["predict", str(run), "--data", str(data_npz), "--out", str(csv_path)]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_finetune_with_prior_pool_says_what_it_estimated(
    pretrained: Path, data_npz: Path, labelled_images: ImageSet, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "ft"
    argv = ["finetune", "--data", str(data_npz), "--pretrained", str(pretrained), "--out", str(run), "--prior", "pool",
            "--labels-per-class", "4", "--val-per-class", "4", "--eval-every", "10", "--steps", "20", "--lr", "3e-3"]
    assert cli.main([*argv, *TINY]) == 0
    out = capsys.readouterr().out
    prior = ptft.load(run).meta["metrics"]["prior"]
    common, rare = int(np.argmax(prior["pool"])), int(np.argmin(prior["pool"]))
    names = labelled_images.label_names
    assert f"commonest {names[common]} {100 * prior['pool'][common]:.1f} % (trained at" in out
    assert f"rarest {names[rare]} {100 * prior['pool'][rare]:.2f} %" in out and "ptft compare --prior pool" in out
    flat = cli.prior_line({"pool": [0.5, 0.5], "trained": [0.4, 0.6]}, ["a", "b"])
    assert flat == "moved to the pool's class shares: all about 50.0 %"  # no class named both commonest and rarest


@pytest.mark.parametrize("command", list(cli.COMMANDS))
def test_help_of_every_command_lists_every_option_with_its_default(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main([*command.split(), "--help"])
    assert caught.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # undo argparse's line wrapping
    cls = cli.COMMANDS[command][0]
    for key in flat_fields(cls):
        name = key if cli.POSITIONAL.get(command) == key else "--" + key.replace("_", "-")
        assert name in text, name
    assert text.count("(default:") == len(flat_fields(cls))
    if command == "finetune":  # nested defaults are the command's own, not LoopConfig's
        assert "--steps STEPS optimiser steps; 0 = derive from epochs (or from max_minutes) (default: 400)" in text
    if command == "pretrain":
        assert "(default: 0.0)" in text and "(default: 'auto')" in text


def test_top_level_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(["--help"])
    assert caught.value.code == 0
    out = capsys.readouterr().out
    assert all(command.split()[0] in out for command in cli.COMMANDS)


def test_python_dash_m_ptft_help() -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "ptft", "--help"], capture_output=True, text=True, timeout=60, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "usage: ptft" in done.stdout and "pretrain" in done.stdout and "finetune" in done.stdout


@pytest.mark.parametrize(
    "argv",
    [["pretrain", "--bogus", "1"], ["pretrain", "--overwrite=maybe"], ["nocommand"], []],
    ids=["unknown-option", "bool-flag-with-value", "unknown-command", "no-command"],
)
def test_argparse_errors_exit_2_with_a_message(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(argv)
    assert caught.value.code == 2
    assert "error:" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["pretrain", "--steps", "abc"], "option 'steps': expected int, got 'abc'"),
        (["pretrain", "--lr", "fast"], "option 'lr': expected float"),
        (["pretrain", "--steps", "2.5"], "option 'steps'"),
        (["pretrain", "--objective", "dino"], "unknown objective 'dino'; available: byol, electra, mae, masked-cells,"),
        (["finetune", "--strategy", "half"], "unknown strategy 'half'; available:"),
        (["pretrain", "--config", "/nonexistent/ptft.toml"], "/nonexistent/ptft.toml does not exist"),
        (["evaluate"], "evaluate needs the run folder"),
    ],
)
def test_bad_values_return_2_with_a_message(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("ptft: error:") and message in err
    assert "Traceback" not in err


def test_missing_data_path_names_the_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere" / "images.npz"
    assert cli.main(["pretrain", "--data", str(missing), "--out", str(tmp_path / "run"), *TINY]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "does not exist" in err
    assert not (tmp_path / "run" / "MANIFEST").exists()


def test_evaluate_on_a_missing_run_names_it(tmp_path: Path, data_npz: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["evaluate", str(tmp_path / "no-run"), "--data", str(data_npz)]) == 2
    assert str(tmp_path / "no-run") in capsys.readouterr().err


def test_toml_config_is_honoured_and_flags_win(tmp_path: Path, data_npz: Path) -> None:
    config = tmp_path / "pretrain.toml"
    config.write_text(
        f'data = "{data_npz}"\nobjective = "mae"\nmask_ratio = 0.5\n'
        '[model]\nencoder = "mlp"\ndim = 16\ndepth = 2\n'
        '[loop]\nsteps = 3\nbatch_size = 8\nprogress = false\nprecision = "fp32"\nlr = 0.01\n'
    )
    out = tmp_path / "run"
    command, parsed = cli.parse(["pretrain", "--config", str(config), "--lr", "0.002", "--out", str(out)])
    assert command == "pretrain"
    assert parsed.loop.lr == 0.002 and parsed.loop.steps == 3 and parsed.model.encoder == "mlp"
    assert parsed.mask_ratio == 0.5 and parsed.loop.progress is False and parsed.data == str(data_npz)

    assert cli.main(["pretrain", "--config", str(config), "--steps", "2", "--out", str(out)]) == 0
    meta = ptft.load(out).meta
    assert meta["config"]["loop"]["steps"] == 2 and meta["metrics"]["steps"] == 2  # the flag won
    assert meta["config"]["model"]["encoder"] == "mlp" and meta["encoder"]["name"] == "mlp"  # the file was read
    assert meta["config"]["loop"]["lr"] == 0.01 and meta["objective"] == "mae"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("stpes = 3\n", "unknown option(s) stpes for PretrainConfig; valid: "),
        ("[loop]\nsteps = 'many'\n", "option 'steps': expected int, got 'many'"),
        ("steps = [\n", "not valid TOML"),
    ],
)
def test_bad_toml_config_returns_2(text: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(text)
    assert cli.main(["pretrain", "--config", str(config), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert message in err
    if "valid:" in message:
        assert "mask_ratio" in err and "steps" in err  # lists the valid keys


def test_evaluate_on_a_pretrained_encoder_says_to_fine_tune_first(
    pretrained: Path, data_npz: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["evaluate", str(pretrained), "--data", str(data_npz)]) == 2
    err = capsys.readouterr().err
    assert str(pretrained) in err and "without a head; fine-tune it first" in err


def test_version_names_ptft_torch_and_python(capsys: pytest.CaptureFixture[str]) -> None:
    import platform

    import torch

    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    out = capsys.readouterr().out.strip()
    assert done.value.code == 0
    assert out == f"ptft {ptft.__version__} (torch {torch.__version__}, Python {platform.python_version()})"


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_data_inspect_reads_a_label_column_without_being_told(
    suffix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / f"corpus{suffix}"
    rows = [("a red apple", "fruit"), ("a green pear", "fruit"), ("a fast car", "vehicle")]
    if suffix == ".csv":
        path.write_text("text,label\n" + "".join(f"{t},{k}\n" for t, k in rows))
    else:
        path.write_text("".join(json.dumps({"text": t, "label": k}) + "\n" for t, k in rows))
    assert cli.main(["data", "inspect", str(path)]) == 0
    assert "3 (3 labelled, 2 labels)" in capsys.readouterr().out
    plain = tmp_path / "plain.csv"
    plain.write_text("text,topic\n" + "".join(f"{t},{k}\n" for t, k in rows))
    assert cli.main(["data", "inspect", str(plain)]) == 0
    assert "3 (0 labelled" in capsys.readouterr().out  # no `label` column: none read unless named
    assert cli.main(["data", "inspect", str(plain), "--label-column", "topic"]) == 0
    assert "3 (3 labelled, 2 labels)" in capsys.readouterr().out

"""Text regression on the same commands: numeric labels, MSE on standardised targets, RMSE/MAE/R²/Spearman,
predictions in the data's units, and clear errors for non-numeric labels or class-only strategies."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

import ptft
from ptft import cli
from ptft.data.splits import random_budget
from ptft.errors import ConfigError, DataError
from ptft.evaluate.metrics import regression_report

TINY = ["--dim", "16", "--depth", "2", "--heads", "2", "--batch-size", "16", "--no-progress", "--precision", "fp32"]
WORDS = ["cold", "cool", "mild", "warm", "hot"]


def write_scores(path: Path, n: int, seed: int) -> Path:
    """Target = 10 x (index of the temperature word) + 5: learnable from one word."""
    rng = np.random.default_rng(seed)
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            k = int(rng.integers(len(WORDS)))
            fh.write(json.dumps({"text": f"today it is {WORDS[k]} outside {i}", "score": 10 * k + 5}) + "\n")
    return path


def test_regression_report_known_values() -> None:
    report = regression_report(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 2.0, 3.0, 5.0]))
    assert report["rmse"] == pytest.approx(0.5) and report["mae"] == pytest.approx(0.25)
    assert report["spearman"] == pytest.approx(1.0) and report["r2"] == pytest.approx(0.8) and report["n"] == 4


def test_random_budget_splits_labelled_rows() -> None:
    labelled = np.array([True] * 10 + [False] * 5)
    split = random_budget(labelled, 4, 3, seed=0)
    assert len(split.train) == 4 and len(split.val) == 3 and len(split.pool) == 8
    assert set(split.train) | set(split.val) <= set(range(10))
    assert set(range(10, 15)) <= set(split.pool)
    with pytest.raises(DataError, match="fewer than the 8 \\+ 3"):
        random_budget(labelled, 8, 3, seed=0, source="x")


def test_regression_end_to_end_via_cli(tmp_path: Path) -> None:
    train, test = write_scores(tmp_path / "train.jsonl", 200, 0), write_scores(tmp_path / "test.jsonl", 50, 1)
    out = tmp_path / "reg"
    argv = ["finetune", "--data", str(train), "--task", "regression", "--label-column", "score", "--out", str(out)]
    argv += [
        "--labels-per-class",
        "120",
        "--val-per-class",
        "40",
        "--steps",
        "150",
        "--lr",
        "3e-3",
        "--test",
        str(test),
    ]
    assert cli.main([*argv, *TINY, "--vocab-size", "120", "--max-length", "16"]) == 0
    meta = json.loads((out / "ptft.json").read_text())
    assert meta["head"] == {"type": "regression"} and meta["label_names"] == []
    assert meta["metrics"]["train_labels"] == 120 and meta["metrics"]["val_labels"] == 40
    assert meta["metrics"]["test"]["spearman"] > 0.8  # the model reads the temperature word
    model = ptft.load(out)
    values = model.predict(["today it is hot outside", "today it is cold outside"])
    assert isinstance(values[0], float) and values[0] > values[1]  # in the data's units
    assert cli.main(["evaluate", str(out), "--data", str(test)]) == 0
    assert json.loads(next(out.glob("eval-*.json")).read_text())["n"] == 50
    predictions = tmp_path / "pred.csv"
    assert cli.main(["predict", str(out), "--data", str(test), "--out", str(predictions)]) == 0
    rows = list(csv.DictReader(predictions.open(encoding="utf-8")))
    assert len(rows) == 50 and set(rows[0]) == {"id", "prediction"} and float(rows[0]["prediction"]) > -100
    with pytest.raises(ptft.errors.BundleError, match="regression model"):
        model.predict_proba(["x"])


def test_non_numeric_labels_and_class_strategies_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "a", "label": "1.5"}\n{"text": "b", "label": "high"}\n', encoding="utf-8")
    argv = ["finetune", "--data", str(bad), "--task", "regression", "--out", str(tmp_path / "r"), *TINY]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert f"{bad}:2: label 'high' is not a number" in err and not (tmp_path / "r").exists()
    with pytest.raises(ConfigError, match="self-train"):
        ptft.FineTuner(task="regression", strategy="self-train")

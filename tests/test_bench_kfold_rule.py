"""bench/kfold_rule.py's reading of a k-fold cell: each fold's validation curve of each stage from its logs, in
stage order, as ptft.evaluate.compare.picked_steps takes them."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import bench_module


def write_log(folder: Path, curve: dict[int, float]) -> None:
    folder.mkdir(parents=True)
    lines = []
    for step, score in curve.items():
        lines.append(json.dumps({"step": step, "loss": 1.0, "lr": 1e-4}))  # a training line: no score
        lines.append(json.dumps({"step": step, "val_accuracy": score}))
    (folder / "metrics.jsonl").write_text("\n".join(lines) + "\n")


def test_the_folds_curves_are_read_per_stage_in_stage_order(tmp_path: Path) -> None:
    rule = bench_module("kfold_rule")
    for fold in range(2):
        write_log(tmp_path / f"fold-{fold}" / "logs", {25: 0.1 + fold, 50: 0.2})
        write_log(tmp_path / f"fold-{fold}" / "stage-1-head" / "logs", {25: 0.5})
    curves = rule.fold_curves(tmp_path, 2)
    assert curves == [[[[25, 0.1], [50, 0.2]], [[25, 0.5]]], [[[25, 1.1], [50, 0.2]], [[25, 0.5]]]]

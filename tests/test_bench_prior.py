"""bench/prior.py pairs each fine-tuned cell of a --prior pool study with its own scores from before the move."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import bench_module


def cell(method: str, seed: int, before: float, after: float, pool: list[float]) -> dict[str, Any]:
    return {"method": method, "kind": "finetune", "labels_per_class": 10, "seed": seed, "pretrained": "runs/pre",
            "accuracy": after, "macro_f1": after - 0.05, "before_prior": {"accuracy": before, "macro_f1": before},
            "prior": {"trained": [0.5, 0.5], "pool": pool}}  # fmt: skip


def test_each_model_is_paired_with_itself_before_the_move() -> None:
    prior = bench_module("prior")
    rows = [cell("full", 0, 0.70, 0.72, [0.8, 0.2]), cell("full", 1, 0.60, 0.63, [0.75, 0.25]),
            cell("linear", 0, 0.50, 0.49, [0.5, 0.5])]  # fmt: skip
    older = {k: v for k, v in cell("full", 2, 0.6, 0.6, [0.5, 0.5]).items() if k not in ("before_prior", "prior")}
    full, linear = prior.pairs("t", [*rows, older])  # a cell from before the move was recorded is left out
    assert (full["method"], full["seeds"]) == ("full", 2) and full["diff"] == pytest.approx(0.025)
    assert full["without"] == pytest.approx(0.65) and full["with"] == pytest.approx(0.675)
    assert full["macro_f1_diff"] == pytest.approx(0.025 - 0.05)  # macro-F1 paired with itself too
    assert full["estimated_imbalance"] == pytest.approx((4 + 3) / 2)  # the pool's largest / smallest share, mean
    assert linear["seeds"] == 1 and linear["diff"] == pytest.approx(-0.01)
    assert linear["diff_ci"] is None and linear["macro_f1_diff_ci"] is None  # one seed has no interval (no NaN)


def test_a_study_without_the_move_is_refused(tmp_path: Path) -> None:
    prior = bench_module("prior")
    row = cell("full", 0, 0.7, 0.7, [0.5, 0.5])
    older = {k: v for k, v in row.items() if k != "before_prior"}
    for name, config, rows in (("labels", {"prior": "labels"}, [row]), ("old", {"prior": "pool"}, [older])):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps({"config": config, "rows": rows}))
    with pytest.raises(SystemExit, match="without --prior pool"):
        prior.study(tmp_path / "labels")
    with pytest.raises(SystemExit, match="no scores from before the move"):
        prior.study(tmp_path / "old")
    (tmp_path / "named").mkdir()
    config = {"prior": "pool", "pretrained": ["pre=runs/pre"]}
    (tmp_path / "named" / "results.json").write_text(json.dumps({"config": config, "rows": [row]}))
    _, (named,) = prior.study(tmp_path / "named")
    assert named["method"] == "full[pre]"  # a one-start study's row says its start

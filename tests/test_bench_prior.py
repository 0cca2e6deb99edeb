"""bench/prior.py pairs each fine-tuned cell with its twin of the study without --prior pool."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import bench_module


def cell(method: str, seed: int, accuracy: float, labelled: str = "") -> dict[str, Any]:
    return {"method": method, "kind": "finetune", "labels_per_class": 10, "seed": seed, "accuracy": accuracy,
            "labelled": labelled or f"ids{seed}"}  # fmt: skip


def test_the_difference_is_paired_by_seed_and_other_labels_are_refused() -> None:
    prior = bench_module("prior")
    without = [cell("full", 0, 0.70), cell("full", 1, 0.60), cell("full", 2, 0.65)]
    with_ = [cell("full", 0, 0.72), cell("full", 1, 0.63)]  # seed 2 not run with the prior
    (row,) = prior.pair_rows("t", without, with_)
    assert row["seeds"] == 2 and row["diff"] == pytest.approx(0.025)
    assert row["without"] == pytest.approx(0.65) and row["with"] == pytest.approx(0.675)  # the paired seeds only
    with pytest.raises(SystemExit, match="other labels"):
        prior.pair_rows("t", without, [cell("full", 0, 0.72, labelled="elsewhere")])

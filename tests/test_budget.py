"""bench/budget.py's bookkeeping: gains are paired by seed against scratch and the best baseline, and a finished
bundle is reused only when its config is the one the budget asks for (where it was written does not count), and a
re-run of one task replaces its rows where they stood."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ptft.config import to_dict
from ptft.demo import tasks
from tests.conftest import bench_module


def budget_module() -> Any:
    return bench_module("budget")


def test_gains_are_paired_by_seed_against_scratch_and_the_best_baseline() -> None:
    budget = budget_module()
    rows = []
    for seed, level in enumerate([0.60, 0.70, 0.80]):  # seeds differ a lot; each method's offset does not
        rows += [
            {"method": "scratch", "objective": "", "pretrain_minutes": 0.0, "seed": seed, "accuracy": level},
            {"method": "weak", "objective": "", "pretrain_minutes": 0.0, "seed": seed, "accuracy": level - 0.05},
            {"method": "strong", "objective": "", "pretrain_minutes": 0.0, "seed": seed, "accuracy": level + 0.01},
            {"method": "full", "objective": "mlm", "pretrain_minutes": 3.0, "seed": seed, "accuracy": level + 0.04},
            {"method": "full", "objective": "simcse", "pretrain_minutes": 3.0, "seed": seed, "accuracy": level},
        ]
    gain, simcse = budget.gains(rows, ["weak", "strong"])  # one entry per (strategy, objective, minutes)
    assert simcse["objective"] == "simcse" and simcse["gain_vs_scratch"] == pytest.approx(0.0)
    assert (gain["method"], gain["objective"], gain["pretrain_minutes"]) == ("full", "mlm", 3.0)
    assert gain["best_baseline"] == "strong"
    assert gain["gain_vs_scratch"] == pytest.approx(0.04) and gain["gain_vs_best_baseline"] == pytest.approx(0.03)
    low, high = gain["gain_vs_scratch_ci"]
    assert high - low == pytest.approx(0.0, abs=1e-9)  # paired: the seeds' spread cancels


def test_a_finished_bundle_is_reused_only_with_the_config_the_budget_asks_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    budget = budget_module()
    task = tasks()["fashion-mnist"]
    folder = tmp_path / "pretrain-2min"
    folder.mkdir()
    (folder / "MANIFEST").write_text("")
    stored = replace(task.pretrain, loop=replace(task.pretrain.loop, max_minutes=2.0), out="elsewhere/pretrain")
    written = to_dict(stored)
    del written["momentum"]  # written before ptft had that option: it ran with the default
    (folder / "config.json").write_text(json.dumps(written))
    trained: list[str] = []
    monkeypatch.setattr(budget, "Pretrainer", lambda cfg: trained.append(cfg.out) or pytest.fail("trained again"))
    assert budget.pretrained(task, 2.0, folder) == str(folder) and not trained  # moved, same computation: reused
    with pytest.raises(pytest.fail.Exception, match="trained again"):
        budget.pretrained(task, 3.0, folder)  # another budget is another run


def test_row_names_carry_strategy_objective_and_minutes_and_a_study_only_grows(tmp_path: Path) -> None:
    budget = budget_module()
    assert budget.start_name("mlm", "mlm", 3.0) == "3min" and budget.start_name("simcse", "mlm", 0.5) == "simcse-0.5min"
    assert budget.parse_row("full[3min]", "mlm") == ("full", "mlm", 3.0)
    assert budget.parse_row("self-train[simcse-10min]", "mlm") == ("self-train", "simcse", 10.0)
    assert budget.parse_row("tfidf-logreg", "mlm") is None and budget.parse_row("scratch", "mlm") is None
    assert budget.grown(tmp_path, "methods", ("a", "b")) == ("a", "b")  # no study yet
    (tmp_path / "config.json").write_text(json.dumps({"methods": ["a", "c"]}))
    assert budget.grown(tmp_path, "methods", ("b", "a")) == ("a", "c", "b")  # earlier entries kept, in order


def test_a_rerun_of_one_task_replaces_its_rows_where_they_stood() -> None:
    budget = budget_module()
    kept = [{"task": "a", "v": 1}, {"task": "b", "v": 2}, {"task": "b", "v": 3}, {"task": "c", "v": 4}]
    assert budget.in_place(kept, [{"task": "b", "v": 9}], "b") == [{"task": "a", "v": 1}, {"task": "b", "v": 9},
                                                                  {"task": "c", "v": 4}]  # fmt: skip
    assert budget.in_place(kept[:1], [{"task": "n", "v": 5}], "n") == [{"task": "a", "v": 1}, {"task": "n", "v": 5}]

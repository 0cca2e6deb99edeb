"""bench/peers.py's bookkeeping: a study's rows are named as in a study of several starts and of both
selections, replace the stored rows of their method, budget and seed, and are refused when they trained on
other labelled examples than the stored rows."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import bench_module


def peers_module() -> Any:
    return bench_module("peers")


def row(method: str, kind: str, seed: int, accuracy: float, labelled: str = "ids", **more: Any) -> dict[str, Any]:
    return {"method": method, "kind": kind, "labels_per_class": 8, "seed": seed, "accuracy": accuracy,
            "macro_f1": accuracy, "labelled": f"{labelled}{seed}", **more}  # fmt: skip


def results_folder(peers: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty bench/results for the script to read and write."""
    results = tmp_path / "results"
    results.mkdir()
    monkeypatch.setattr(peers, "RESULTS", results)
    monkeypatch.setattr(peers, "save_json", lambda name, payload: (results / name).write_text(json.dumps(payload)))
    return results


def write_study(study: Path, cells: list[dict[str, Any]]) -> Path:
    """A finished compare study of one start, minilm=hf:/m."""
    study.mkdir()
    (study / "cells.jsonl").write_text("\n".join(json.dumps(c) for c in cells))
    (study / "config.json").write_text(json.dumps({"pretrained": ["minilm=hf:/m"]}))
    return study


def test_a_study_of_one_start_names_its_rows_by_the_start_and_the_selection() -> None:
    peers = peers_module()
    cells = [row("tfidf-logreg", "baseline", 0, 0.3), row("setfit", "peer", 0, 0.6),
             row("full", "finetune", 0, 0.5, pretrained="hf:/m", select="kfold"),
             row("setfit[minilm]", "finetune", 0, 0.55, pretrained="hf:/m", select="holdout")]  # fmt: skip
    named = [r["method"] for r in peers.study_rows(cells, {"minilm": "hf:/m"}, "t")]
    assert named == ["setfit", "full[minilm]+kfold", "setfit[minilm]"]
    unnamed = peers.named_starts(("runs/pre-15min",))  # a start given without a name is named after its folder
    assert unnamed == {"pre-15min": "runs/pre-15min"}
    cells = [row("full", "finetune", 0, 0.5, pretrained="runs/pre-15min", select="holdout")]
    assert [r["method"] for r in peers.study_rows(cells, unnamed, "t")] == ["full[pre-15min]"]
    cells = [row("fixmatch", "finetune", 0, 0.7, pretrained="runs/pre-15min", select="fixed"),
             row("tfidf-logreg", "baseline", 0, 0.3)]  # fmt: skip
    named = [r["method"] for r in peers.study_rows(cells, unnamed, "t", baselines=True, ema=0.999)]
    assert named == ["fixmatch[pre-15min]+fixed+ema", "tfidf-logreg"]  # a baseline has no step and no average
    named = [r["method"] for r in peers.study_rows(cells, unnamed, "t", ema=0.999, suffix="+5min")]
    assert named == ["fixmatch[pre-15min]+fixed+ema+5min"]  # --study +5min=DIR: a study's own suffix
    named = [r["method"] for r in peers.study_rows(cells, unnamed, "t", ema=0.999, prior="pool")]
    assert named == ["fixmatch[pre-15min]+fixed+ema+prior"]  # --prior pool


def test_only_the_cells_of_the_studys_own_seeds_and_budgets_are_taken() -> None:
    peers = peers_module()
    cells = [row("setfit", "peer", s, 0.6) for s in range(4)]
    cells.append({**row("setfit", "peer", 0, 0.7), "labels_per_class": 32})
    kept = peers.in_study(cells, {"seed": 0, "seeds": 3, "labels_per_class": [8]})  # finished with --resume --seeds 3
    assert [(r["seed"], r["labels_per_class"]) for r in kept] == [(0, 8), (1, 8), (2, 8)]
    assert peers.in_study(cells, {}) == cells  # no config.json: every cell


def test_rows_on_other_labelled_examples_are_not_paired() -> None:
    peers = peers_module()
    stored = [row("tfidf-logreg", "baseline", s, 0.3) for s in range(2)]
    peers.check_pairing([row("full[minilm]", "finetune", 1, 0.5)], stored)  # the same ids: paired
    with pytest.raises(SystemExit, match="other labelled examples"):
        peers.check_pairing([row("full[minilm]", "finetune", 1, 0.5, labelled="other")], stored)
    tuned_only = [row("full[minilm]", "finetune", s, 0.7) for s in range(2)]  # a file with no baseline rows
    with pytest.raises(SystemExit, match="other labelled examples"):
        peers.check_pairing([row("self-train[minilm]", "finetune", 0, 0.7, labelled="other")], tuned_only)


def test_the_rows_go_into_the_results_file_named_and_pair_with_its_reference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    peers = peers_module()
    results = results_folder(peers, tmp_path, monkeypatch)
    stored = {"commands": ["c"], "rows": [row("full[minilm]", "finetune", s, 0.70 + s / 100) for s in range(3)],
              "summary": [{"method": "full[minilm]"}]}  # fmt: skip
    (results / "tapt_t.json").write_text(json.dumps(stored))
    cells = [row("self-train", "finetune", s, 0.72 + s / 100, pretrained="hf:/m", select="holdout") for s in range(3)]
    study = write_study(tmp_path / "study", cells)
    argv = ["peers.py", "--task", "t", "--into", "tapt_t.json", "--reference", "full[minilm]", "--study", str(study)]
    monkeypatch.setattr(sys, "argv", argv)
    peers.main()
    assert not (results / "compare_t.json").exists()
    out = json.loads((results / "tapt_t.json").read_text())
    assert out["commands"] == ["c"] and len(out["rows"]) == 6
    by = {e["method"]: e for e in out["summary"]}
    assert by["self-train[minilm]"]["diff_vs_full_holdout"] == pytest.approx(0.02, abs=1e-6)


def test_the_script_adds_a_studys_rows_and_pairs_the_best_with_the_peer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    peers = peers_module()
    stored = [row("tfidf-logreg", "baseline", s, 0.30 + s / 100) for s in range(3)]
    stored += [row("full[pretrain]", "finetune", s, 0.40 + s / 100) for s in range(3)]
    stored += [row("setfit", "peer", s, 0.60 + s / 100) for s in range(3)]
    results = results_folder(peers, tmp_path, monkeypatch)
    stored_file = {"rows": stored, "summary": [{"method": "setfit"}], "pretrained": "x"}
    (results / "compare_t.json").write_text(json.dumps(stored_file))
    cells = [row("tfidf-logreg", "baseline", s, 0.30 + s / 100) for s in range(3)]
    cells += [row("setfit", "finetune", s, [0.62, 0.60, 0.66][s], pretrained="hf:/m", select="kfold") for s in range(3)]
    study = write_study(tmp_path / "study", cells)
    monkeypatch.setattr(sys, "argv", ["peers.py", "--task", "t", "--study", str(study)])
    peers.main()
    out = json.loads((results / "compare_t.json").read_text())
    assert sum(r["method"] == "setfit" for r in out["rows"]) == 3  # the stored peer rows stay
    assert out["starts"] == {"minilm": "hf:/m"}
    (entry,) = out["peers"]
    assert entry["ptft_best"] == "setfit[minilm]+kfold"
    assert entry["best_minus_peer"] == pytest.approx((0.02 - 0.01 + 0.04) / 3, abs=1e-6)  # per seed: .62-.60 ...
    assert [e["method"] for e in out["summary"]] == ["setfit", "setfit[minilm]+kfold"]  # the stored entries stay


def test_a_task_with_no_stored_results_takes_its_studies_baselines_once_and_the_reference_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    peers = peers_module()
    results = results_folder(peers, tmp_path, monkeypatch)
    studies = []
    for name, cells in {
        "peers": [row("tfidf-logreg", "baseline", s, 0.30) for s in range(3)]
        + [row("setfit", "peer", s, 0.60 + s / 100) for s in range(3)],
        "minilm": [row("tfidf-logreg", "baseline", s, 0.30) for s in range(3)]
        + [row("full", "finetune", s, 0.50, pretrained="hf:/m", select="kfold") for s in range(3)]
        + [row("setfit[minilm]", "finetune", s, [0.55, 0.57, 0.56][s], pretrained="hf:/m", select="kfold")
           for s in range(3)],
    }.items():  # fmt: skip
        studies += ["--study", str(write_study(tmp_path / name, cells))]
    argv = ["peers.py", "--task", "t", "--reference", "full[minilm]+kfold", *studies]
    monkeypatch.setattr(sys, "argv", argv)
    peers.main()
    out = json.loads((results / "compare_t.json").read_text())
    assert sorted(r["seed"] for r in out["rows"] if r["method"] == "tfidf-logreg") == [0, 1, 2]
    assert out["reference"] == "full[minilm]+kfold"
    by = {e["method"]: e for e in out["summary"]}
    assert set(by) == {"tfidf-logreg", "setfit", "full[minilm]+kfold", "setfit[minilm]+kfold"}
    assert by["setfit[minilm]+kfold"]["diff_vs_full_holdout"] == pytest.approx(0.06, abs=1e-6)
    assert "diff_vs_full_holdout" not in by["full[minilm]+kfold"]
    (entry,) = out["peers"]
    assert entry["ptft_best"] == "setfit[minilm]+kfold"

    (tmp_path / "other").mkdir()  # a study drawn on other labelled examples than the first is refused
    (tmp_path / "other" / "cells.jsonl").write_text(json.dumps(row("tfidf-logreg", "baseline", 0, 0.3, "x")))
    (results / "compare_t.json").unlink()
    monkeypatch.setattr(sys, "argv", [*argv, "--study", str(tmp_path / "other")])
    with pytest.raises(SystemExit, match="other labelled examples"):
        peers.main()


def test_a_finetune_bundle_is_a_row_counted_as_compare_counts_its_budget(tmp_path: Path) -> None:
    peers = peers_module()
    folder = tmp_path / "fm"
    folder.mkdir()
    meta = {"config": {"labels_per_class": 15, "val_per_class": 5, "pretrained": "", "loop": {"seed": 3}},
            "metrics": {"test": {"accuracy": 0.74, "macro_f1": 0.73}, "labelled": "ids3", "steps": 900,
                        "seconds": 80.0}}  # fmt: skip
    (folder / "ptft.json").write_text(json.dumps(meta))
    got = peers.bundle_row(f"fixmatch[scratch]={folder}", "t")
    assert (got["method"], got["labels_per_class"], got["seed"], got["accuracy"]) == ("fixmatch[scratch]", 20, 3, 0.74)
    peers.check_pairing([{**got, "labels_per_class": 8}], [row("tfidf-logreg", "baseline", 3, 0.3)])  # same ids
    del meta["metrics"]["test"]
    (folder / "ptft.json").write_text(json.dumps(meta))
    with pytest.raises(SystemExit, match="no test score"):
        peers.bundle_row(f"x={folder}", "t")
    with pytest.raises(SystemExit, match="NAME=FOLDER"):
        peers.bundle_row(str(folder), "t")

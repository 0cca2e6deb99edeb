"""`ptft compare`: did pre-training help on *this* data, and which way of fine-tuning should one use?

Every method x label budget x seed is a cell. For a budget K and a seed, every method sees the same K
labelled examples per class (the first K of each class in that seed's order): the baselines train on all K;
a fine-tuning method trains on K - V and picks its step on the V others (`--select holdout`,
V = max(1, K // 4)), or picks it by k-fold over the K and then trains on all K (`--select kfold`; `auto`,
the default, is k-fold up to KFOLD_UP_TO labels per class and the held-out quarter above), or picks nothing
and trains on all K for the steps it is given (`--select fixed`), so
"K labels per class" means K in all, for every row alike. Cells are appended to
`cells.jsonl` as they finish: `--resume` keeps the finished ones and runs the rest. The summary gives
each method's mean with a 95 % interval and the paired difference against `scratch` and against the best
baseline (`stats.py`), and one sentence per budget.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from tqdm import tqdm

from ptft.config import CompareConfig, FinetuneConfig, to_dict
from ptft.data.dedup import pool_without_leakage
from ptft.data.labels import numeric_targets
from ptft.data.types import Examples
from ptft.errors import ConfigError, DataError
from ptft.evaluate.baselines import run_baseline
from ptft.evaluate.report import write_reports
from ptft.evaluate.summary import RIVALS, SCRATCH, summarize, verdicts
from ptft.finetune.job import Finetuned, refuse_fixmatch_without_views, run_finetune
from ptft.finetune.model import Model, load
from ptft.finetune.prior import unshifted
from ptft.finetune.strategies import STRATEGIES, lora_targets
from ptft.modalities import Baseline, Modality, modality_of, read_data
from ptft.models import Classifier, build_encoder
from ptft.models.heads import ClassificationHead, new_head
from ptft.notes import note
from ptft.objectives.supervised import SupervisedClassification
from ptft.train.batches import BatchStream
from ptft.train.distributed import Dist
from ptft.train.estimate import estimate
from ptft.train.run_folder import CONFIG_FILE, start_run, versions
from ptft.train.start import from_hf, read_start

CELLS_FILE = "cells.jsonl"
METRICS = {"classification": ("accuracy", "macro_f1"), "regression": ("r2", "rmse")}  # (judged on, also shown)
# --resume may add budgets, seeds and methods to a study: the finished cells are kept, the new ones run
GROWS_ON_RESUME = frozenset({"labels_per_class", "seeds", "methods", "pretrained"})  # starts: see _kept_starts


@dataclass(frozen=True)
class Cell:
    method: str  # as shown: a baseline's name, `scratch`, or a strategy with its start (`full`, `full[pre]`)
    kind: str  # baseline | peer (another tool's own method) | finetune
    strategy: str  # the fine-tuning strategy ('' for a baseline)
    pretrained: str  # where the encoder starts ('' for scratch and baselines)
    labels_per_class: int
    seed: int

    @property
    def key(self) -> str:
        return f"{self.method}|k{self.labels_per_class}|seed{self.seed}"


def cell_dir(out: Path, method: str, per_class: int, seed: int) -> Path:
    """The run folder of a fine-tuning cell inside a study folder (`runs/<method>-k<K>-seed<seed>`)."""
    return out / "runs" / f"{method}-k{per_class}-seed{seed}"


# --select auto: k-fold up to this many labels per class, a held-out quarter above. Chosen from bench/compare.py
# on two tasks (README, "Choosing the selection"): over 30 paired comparisons at K <= 32 (Fashion-MNIST 10 and
# 20, WordNet 8 and 32; scratch and full) k-fold gained +2.2 points [+1.2, +3.2]; at K = 100 (10 pairs) it
# changed nothing (-0.1 [-1.1, +1.0]) and costs folds + 1 runs a cell.
KFOLD_UP_TO = 32


def selection(cfg: CompareConfig, per_class: int) -> str:
    """How a fine-tuning cell of this budget picks its step: 'kfold' or 'holdout' (regression: holdout)."""
    if cfg.select != "auto":
        return cfg.select
    if cfg.task == "regression":
        return "holdout"
    return "kfold" if per_class <= KFOLD_UP_TO else "holdout"


def selection_split(per_class: int) -> tuple[int, int]:
    """(training, validation) examples per class of a budget of K in all."""
    val = max(1, per_class // 4)
    return per_class - val, val


def starts(pretrained: tuple[str, ...]) -> dict[str, str]:
    """The --pretrained starts by name: `NAME=SOURCE` names one, else it is named after its folder."""
    named: dict[str, str] = {}
    for entry in pretrained:
        name, sep, source = entry.partition("=")
        if not sep or not name or "/" in name or ":" in name:
            name, source = Path(entry.removeprefix("hf:")).name, entry
        if name in named:
            raise ConfigError(
                f"two --pretrained starts are named '{name}'; name them: --pretrained NAME=RUN,NAME2=hf:PATH"
            )
        if name == SCRATCH:  # `fixmatch[scratch]` is a random init, in the plan and in the verdict
            raise ConfigError(f"the --pretrained start {entry} may not be named '{SCRATCH}' (X[{SCRATCH}] runs X from "
                              f"a random init); name it: --pretrained NAME={source}")  # fmt: skip
        named[name] = source
    return named


def _kept_starts(cfg: CompareConfig) -> None:
    """--resume may add --pretrained starts, as it may add methods, but not change or drop one, nor give a
    one-start study a second start: its rows are named without their start (`full`), and would be renamed."""
    path = Path(cfg.out) / CONFIG_FILE
    if not (cfg.resume and path.is_file()):
        return
    before, now = starts(tuple(json.loads(path.read_text()).get("pretrained", ()))), starts(cfg.pretrained)
    changed = [f"{name}={source}" for name, source in before.items() if now.get(name) != source]
    if changed:
        raise ConfigError(f"--resume of {cfg.out}: keep the study's starts as they were ({', '.join(changed)}); "
                          "new starts may be added under new names")  # fmt: skip
    if len(before) == 1 and len(now) > 1:
        raise ConfigError(f"--resume of {cfg.out}: a study with one start names its rows without it (full, not "
                          f"full[{next(iter(before))}]), so a second start would rename them; start a new study "
                          "(another --out) with every start named")  # fmt: skip


def _hf_path(cfg: CompareConfig) -> str:
    return next((p[3:] for p in starts(cfg.pretrained).values() if p.startswith("hf:")), "")


def _strategy_rows(
    method: str, cfg: CompareConfig, taken: frozenset[str] = frozenset()
) -> list[tuple[str, str, str, str]]:
    """A strategy's rows, one per start: from every --pretrained one, or with `full[NAME]` from the one named
    NAME only (so a slow method can run from one start). With several starts a row's name says its start, and
    so it does when the strategy's name is `taken` by a baseline (ptft's `setfit` strategy beside the real
    SetFit peer is `setfit[minilm]`)."""
    strategy, _, name = method.partition("[")
    named = starts(cfg.pretrained)
    if name == f"{SCRATCH}]":
        return [_random_init_row(strategy, method)]
    if not named:
        raise ConfigError(f"method '{method}' fine-tunes a pre-trained encoder; give --pretrained RUN|hf:PATH")
    if name and (not name.endswith("]") or name[:-1] not in named):
        raise ConfigError(f"method '{method}': the name in brackets must be one of the --pretrained starts: "
                          f"{', '.join(f'{strategy}[{n}]' for n in named)}")  # fmt: skip
    chosen = {name[:-1]: named[name[:-1]]} if name else named
    several = len(named) > 1 or strategy in taken
    return [(f"{strategy}[{n}]" if several else strategy, "finetune", strategy, src) for n, src in chosen.items()]


DEFAULT_STRATEGIES = ("linear", "full", "llrd", "lp-ft", "gradual-unfreeze")  # + lora where it applies
CLASSES_ONLY = ("setfit", "self-train", "label-prop", "fixmatch")  # strategies that need classes


def _random_init_row(strategy: str, method: str) -> tuple[str, str, str, str]:
    """`fixmatch[scratch]`: a strategy that uses the pool or pairs, from a random init (lr --scratch-lr, the shape
    of `scratch`): the control that tells pre-training's share of its gain from the pool's."""
    if strategy not in CLASSES_ONLY:
        what = "that is `scratch`" if strategy == "full" else "it keeps or adapts pre-trained weights"
        raise ConfigError(f"method '{method}': {what}; [{SCRATCH}] is for the strategies that use the pool or "
                          f"pairs: {', '.join(f'{s}[{SCRATCH}]' for s in CLASSES_ONLY)}")  # fmt: skip
    return method, "finetune", strategy, ""


def _lora_applies(source: str, modality: Modality, cfg: CompareConfig) -> bool:
    """Whether `lora` can adapt the start's encoder: peft is installed and its blocks hold linear layers."""
    try:
        lora_targets(build_encoder(read_start(source, modality, source, cfg.reader).spec))
    except ConfigError:
        return False
    return True


def default_methods(cfg: CompareConfig, modality: Modality, runnable: list[str]) -> tuple[str, ...]:
    """The modality's baselines that can run, scratch, and from each start linear, full, llrd, lp-ft,
    gradual-unfreeze, and lora where peft is installed and the encoder has linear layers to adapt."""
    if not cfg.pretrained:
        return (*runnable, "scratch")
    named = starts(cfg.pretrained)
    lora = [n for n, source in named.items() if _lora_applies(source, modality, cfg)]
    adapted = ["lora"] if len(lora) == len(named) else [f"lora[{n}]" for n in lora]
    return (*runnable, "scratch", *DEFAULT_STRATEGIES, *adapted)


def refusal(baseline: Baseline, cfg: CompareConfig, context: dict[str, Any]) -> str:
    """Why a baseline cannot run in this study, installed or not ('' when it can)."""
    if baseline.needs and not context.get(baseline.needs):
        what = "fine-tunes" if baseline.peer else "takes features of"
        return f"it needs --pretrained hf:PATH (the encoder it {what})"
    if cfg.task == "regression" and baseline.classes_only:
        return "it classifies only; regression has no form of it"
    return ""


def plan(cfg: CompareConfig, modality: Modality) -> list[Cell]:
    """Every cell of the study, in the order they run (budget, seed, method); `default_methods` when
    --methods is not given. A peer whose package is not installed is left out with one note."""
    context = {"hf_path": _hf_path(cfg)}
    refused = {name: refusal(b, cfg, context) for name, b in modality.baselines.items()}
    uninstalled = {
        name: why for name, b in modality.baselines.items() if not refused[name] and b.missing and (why := b.missing())
    }  # fmt: skip
    runnable = [name for name in modality.baselines if not refused[name] and name not in uninstalled]
    methods = cfg.methods or default_methods(cfg, modality, runnable)
    absent = [m for m in (cfg.methods or modality.baselines) if m in uninstalled]
    for name in absent:
        note(f"{name} is not in this study: {uninstalled[name]}")
    rows: list[tuple[str, str, str, str]] = []  # (method, kind, strategy, pretrained)
    for method in (m for m in methods if m not in absent):
        if method in modality.baselines:
            if refused[method]:
                raise ConfigError(f"baseline '{method}' cannot run: {refused[method]}")
            rows.append((method, "peer" if modality.baselines[method].peer else "baseline", "", ""))
        elif method == "scratch":
            rows.append((method, "finetune", "full", ""))
        elif (strategy := method.partition("[")[0]) in STRATEGIES.names():
            if cfg.task == "regression" and strategy in CLASSES_ONLY:
                fits = ", ".join(DEFAULT_STRATEGIES)
                raise ConfigError(f"method '{method}' needs classes; for regression use {fits} or lora")
            refuse_fixmatch_without_views(strategy, modality)  # before any cell runs
            rows += _strategy_rows(method, cfg, frozenset(modality.baselines))
        else:
            known = [*modality.baselines, "scratch", *STRATEGIES.names()]
            raise ConfigError(f"unknown method '{method}' for {modality.name} data; available: {', '.join(known)}")
    seeds = range(cfg.seed, cfg.seed + cfg.seeds)
    return [Cell(m, kind, s, p, k, seed) for k in cfg.labels_per_class for seed in seeds for m, kind, s, p in rows]


def split_test(cfg: CompareConfig, data: Examples) -> tuple[Examples, Examples, str]:
    """(the labelled source with its pool, the test set, how the test set was chosen)."""
    if cfg.test:
        return data, read_data(cfg.test, cfg.data_dir, cfg.reader), cfg.test
    assert data.labels is not None
    labelled = np.flatnonzero(data.labels >= 0)
    stratify = data.labels[labelled] if cfg.task == "classification" else None
    try:
        _, test_index = train_test_split(
            labelled, test_size=cfg.test_fraction, random_state=cfg.seed, stratify=stratify
        )
    except ValueError as exc:
        raise DataError(f"{data.source}: cannot hold out a test set ({exc}); give --test") from None
    keep = np.setdiff1d(np.arange(len(data)), test_index)
    kind = "stratified " if stratify is not None else ""
    how = f"a seeded, {kind}{cfg.test_fraction:.0%} of {data.source} (seed {cfg.seed}), not used for training"
    return data.subset(keep), data.subset(np.sort(test_index)), how


def without_test_copies(modality: Modality, train: Examples, test: Examples) -> tuple[Examples, int | None]:
    """`train` without the examples that duplicate a test one (exact, after the modality's normalisation), so
    that no labelled pick and no pool example is a copy of what is scored -> (kept, how many were removed;
    None where the modality has no such check)."""
    keys = modality.leakage_keys(train)
    test_keys = modality.leakage_keys(test) if isinstance(test, modality.examples) else None
    if keys is None or test_keys is None:
        return train, None
    kept, removed = pool_without_leakage(keys, np.arange(len(train)), test_keys)
    return (train.subset(kept) if removed else train), removed


def _finetune_config(cfg: CompareConfig, cell: Cell, out: Path, shape: dict[str, Any]) -> FinetuneConfig:
    train_k, val_k = selection_split(cell.labels_per_class)
    model = replace(cfg.model, **shape) if not cell.pretrained else cfg.model
    return FinetuneConfig(
        pretrained=cell.pretrained, out=str(out), overwrite=True, strategy=cell.strategy, task=cfg.task,
        labels_per_class=train_k, val_per_class=val_k, data_dir=cfg.data_dir, model=model, reader=cfg.reader,
        pseudo_threshold=cfg.pseudo_threshold, prior=cfg.prior,
        loop=replace(cfg.loop, seed=cell.seed, lr=start_lr(cfg, cell.pretrained)),
    )  # fmt: skip


def start_lr(cfg: CompareConfig, pretrained: str) -> float:
    """The learning rate for a start: a random init (--scratch-lr), a Hugging Face encoder (--hf-lr; also a ptft
    bundle that continued one), a ptft bundle (--lr)."""
    if not pretrained:
        return cfg.scratch_lr
    return cfg.hf_lr if from_hf(pretrained) else cfg.loop.lr


def run_cell(cell: Cell, cfg: CompareConfig, train: Examples, test: Examples, out: Path, context: dict) -> dict:
    """One cell's row: the task's two metrics on the test set (accuracy and macro-F1, or R² and RMSE), and what
    it cost."""
    start = time.perf_counter()
    row: dict[str, Any] = {"method": cell.method, "kind": cell.kind, "labels_per_class": cell.labels_per_class,
                           "seed": cell.seed, "pretrained": cell.pretrained}  # fmt: skip
    if cell.kind in RIVALS:
        train_k, val_k = selection_split(cell.labels_per_class)
        row.update(run_baseline(cell.method, train, test, train_k, cell.seed, val_per_class=val_k, task=cfg.task,
                                **context))  # fmt: skip
    else:
        run = cell_dir(out, cell.method, cell.labels_per_class, cell.seed)
        base = _finetune_config(cfg, cell, run, context["shape"])
        row["select"] = selection(cfg, cell.labels_per_class)
        if row["select"] == "kfold":
            tuned = kfold_finetune(base, train, row)
        else:
            tuned = run_finetune(base if row["select"] == "holdout" else on_all_labels(base), train)
        report = tuned.model.evaluate(test)
        row.update({key: report[key] for key in METRICS[cfg.task]})
        row.update(labelled=tuned.metrics["labelled"], steps=tuned.metrics["steps"])
        if "prior" in tuned.metrics:
            row.update(_before_the_shift(tuned.model, tuned.metrics["prior"], test))
    return {**row, "seconds": round(time.perf_counter() - start, 2)}


def _before_the_shift(model: Model, prior: dict[str, Any], test: Examples) -> dict[str, Any]:
    """With --prior pool: the shares the head was moved between, and the test scores of the same model before
    the move, so that one study says whether the move helped (the training is not run twice)."""
    assert isinstance(model.head, ClassificationHead), "config refuses --prior pool for regression"
    with unshifted(model.head, prior):
        report = model.evaluate(test)
    shares = {k: prior[k] for k in ("trained", "pool", "estimated_by") if k in prior}
    return {"prior": shares, "before_prior": {key: report[key] for key in METRICS["classification"]}}


# How k-fold turns the folds' validation into the final fit's steps (per stage): "median", the median of the
# folds' best steps; "mean-curve", the step where the folds' mean validation curve peaks (bench/kfold_rule.py).
KFOLD_PICK = "median"


def mean_curve_step(curves: list[list[list[float]]]) -> int:
    """The step, among those every fold evaluated, where the folds' mean validation score is highest (the earliest
    of equal ones); 0 when the folds share no evaluated step. `curves`: per fold, its [step, score] pairs."""
    scores = [{int(step): float(score) for step, score in curve} for curve in curves]
    common = sorted(set.intersection(*(set(c) for c in scores))) if scores else []
    if not common:
        return 0
    means = [float(np.mean([c[step] for c in scores])) for step in common]
    return common[int(np.argmax(means))]


def picked_steps(best: list[list[int]], curves: list[list[list[list[float]]]], pick: str = "") -> list[int]:
    """The final fit's steps per stage from the folds' best steps and curves (per fold, per stage), by `pick`
    (default KFOLD_PICK); the mean curve falls back on the median where the folds share no evaluated step."""
    medians = [max(1, int(np.median(steps))) for steps in zip(*best)]
    if (pick or KFOLD_PICK) == "median":
        return medians
    return [mean_curve_step(list(stage)) or m for stage, m in zip(zip(*curves), medians)]


def on_all_labels(
    cfg: FinetuneConfig, folds: int = 2, steps: int = 0, out: str = "", stage_steps: tuple[int, ...] = ()
) -> FinetuneConfig:
    """`cfg` trained on all K of its labels (training + validation) without validation, for `steps` (0: its own
    --steps, or --max-minutes) and with no early stopping: it ends on its last weights (with --ema, their
    average). k-fold's final fit, which records its `folds`, and the whole of `--select fixed` (fold -1 of any
    count trains on all; 2 is the least the config takes)."""
    loop = replace(cfg.loop, steps=steps or cfg.loop.steps, patience=0)
    k = cfg.labels_per_class + cfg.val_per_class
    return replace(cfg, labels_per_class=k, val_per_class=0, folds=folds, fold=-1, out=out or cfg.out, loop=loop,
                   stage_steps=stage_steps)  # fmt: skip


def kfold_finetune(cfg: FinetuneConfig, train: Examples, row: dict[str, Any]) -> Finetuned:
    """k-fold selection on the K labelled examples per class (k = min(5, K) stratified, seeded folds): each fold
    validates a run on the others, which gives its validation curve and best step (a staged strategy: of each
    stage); then one run on all K for the steps `picked_steps` reads from them (per stage), without validation.
    Every labelled example is used for the final fit."""
    k = cfg.labels_per_class + cfg.val_per_class
    folds = min(5, k)
    best: list[list[int]] = []  # per fold, the best step of each stage
    curves: list[list[list[list[float]]]] = []  # per fold, each stage's (step, score) curve
    for fold in range(folds):
        fold_cfg = replace(cfg, labels_per_class=k, val_per_class=0, folds=folds, fold=fold,
                           out=f"{cfg.out}/fold-{fold}", prior="labels")  # a fold only picks the steps  # fmt: skip
        metrics = run_finetune(fold_cfg, train).metrics
        stages = metrics.get("stages") or [metrics]
        best.append([s["best_step"] or s["steps"] or cfg.loop.steps for s in stages])
        curves.append([s.get("curve", []) for s in stages])
    per_stage = picked_steps(best, curves)
    row.update(folds=folds, fold_best_steps=[b[-1] for b in best] if len(per_stage) == 1 else best,
               picked_steps=per_stage, pick=KFOLD_PICK)  # fmt: skip
    stage_steps = tuple(per_stage) if len(per_stage) > 1 else ()
    return run_finetune(on_all_labels(cfg, folds, sum(per_stage), f"{cfg.out}/final", stage_steps), train)


def _seconds_per_step(cfg: CompareConfig, modality: Modality, part: Examples, source: str, shape: dict) -> float:
    """A few timed fine-tuning steps of the model a start gives (scratch: `shape`) on labelled examples."""
    if source:
        start = read_start(source, modality, part.source, cfg.reader)
        preprocessor, spec = start.preprocessor, start.spec
    else:
        preprocessor = modality.fit_preprocessor(part, cfg.reader)
        spec = modality.encoder_spec(replace(cfg.model, **shape), preprocessor)
    encoder = build_encoder(spec)
    model = Classifier(encoder, new_head(encoder, len(part.label_names))[0])
    x, y = modality.batch(preprocessor, part), torch.from_numpy(np.asarray(part.labels))
    probe = replace(cfg.loop, batch_size=min(cfg.loop.batch_size, len(part)))
    stream = BatchStream(x, y, probe.batch_size, probe.seed)
    return estimate(SupervisedClassification(model), stream, probe, Dist(0, 1, 0), timed_steps=5).seconds_per_step


def estimated_minutes(
    cfg: CompareConfig, modality: Modality, train: Examples, cells: list[Cell], shape: dict[str, Any]
) -> float:
    """An upper estimate of a study's time: a few timed steps of each start's model (scratch, every
    --pretrained one) on this data, times the steps of every fine-tuning run it will make (k-fold: folds + 1
    runs a cell); baselines count as free."""
    part = train.subset(np.flatnonzero(np.asarray(train.labels) >= 0)[:512])
    runs: dict[str, int] = {}
    for c in (c for c in cells if c.kind == "finetune"):
        per_cell = min(5, c.labels_per_class) + 1 if selection(cfg, c.labels_per_class) == "kfold" else 1
        runs[c.pretrained] = runs.get(c.pretrained, 0) + per_cell
    seconds = sum(n * _seconds_per_step(cfg, modality, part, source, shape) for source, n in runs.items())
    return seconds * max(cfg.loop.steps, 1) / 60


def finished_cells(path: Path) -> dict[str, dict[str, Any]]:
    """The rows of the cells a study finished, by key (a line cut off by a kill is no cell)."""
    rows: dict[str, dict[str, Any]] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            rows[Cell(row["method"], row["kind"], "", "", row["labels_per_class"], row["seed"]).key] = row
    return rows


def _append(path: Path, row: dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(row) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def encoder_shape(spec: dict[str, Any]) -> dict[str, Any]:
    """The model options (`ModelConfig` keys) of a stored encoder spec: a scratch run built with them differs
    from the pre-trained encoder only in its initialisation."""
    keys = ("dim", "depth", "heads", "patch_size", "activation", "dropout")
    return {k: spec[k] for k in keys if k in spec} | {"encoder": spec["name"]}


def _scratch_shape(cfg: CompareConfig) -> dict[str, Any]:
    """Scratch takes the first ptft bundle's encoder shape, so only the initialisation differs."""
    for source in starts(cfg.pretrained).values():
        if not source.startswith("hf:"):
            return encoder_shape(load(source).meta["encoder"])
    return {}


def compare(cfg: CompareConfig, data: Examples | None = None, log: Any = print) -> dict[str, Any]:
    """Run (or, with --resume, finish) the study `cfg` describes; returns results.json's content."""
    loaded = data if data is not None else read_data(cfg.data, cfg.data_dir, cfg.reader)
    if loaded.labels is None or not loaded.has_labels:
        raise DataError(f"{loaded.source}: no labels found; a comparison needs labelled examples")
    if cfg.task == "regression":
        numeric_targets(loaded)  # a label that is not a number fails here, naming its example
    modality = modality_of(loaded)
    train, test, test_how = split_test(cfg, loaded)
    train, leaked = without_test_copies(modality, train, test)
    cells = plan(cfg, modality)
    context: dict[str, Any] = {"shape": _scratch_shape(cfg), "cache": {}, "hf_path": _hf_path(cfg)}
    if cfg.dry_run:
        minutes = estimated_minutes(cfg, modality, train, cells, context["shape"])
        log(f"dry run: {len(cells)} cells ({len({c.method for c in cells})} methods x "
            f"{len(cfg.labels_per_class)} budgets x {cfg.seeds} seeds), at most about {minutes:.1f} min "
            "(fine-tuning cells run up to --steps steps; early stopping often ends them sooner); "
            "nothing was written")  # fmt: skip
        return {"cells": [c.key for c in cells], "estimated_minutes": minutes}
    _kept_starts(cfg)
    out = start_run(cfg.out, cfg.overwrite, cfg.resume, cfg, Dist(0, 1, 0), free=GROWS_ON_RESUME)
    done = finished_cells(out / CELLS_FILE)
    todo = [c for c in cells if c.key not in done]
    log(f"{loaded.source}: {len(train)} examples for labels and pool, test: {len(test)} ({test_how})")
    log(f"{len(cells)} cells, {len(cells) - len(todo)} already finished")
    with tqdm(total=len(cells), initial=len(cells) - len(todo), desc="compare", unit="cell") as bar:
        for cell in todo:
            torch.manual_seed(cell.seed)
            row = run_cell(cell, cfg, train, test, out, context)
            _append(out / CELLS_FILE, row)
            done[cell.key] = row
            score = row[METRICS[cfg.task][0]]
            shown = f"{100 * score:.1f} %" if cfg.task == "classification" else f"R² {score:.3f}"
            bar.set_postfix_str(f"{cell.key}: {shown}")
            bar.update()
    rows = [done[c.key] for c in cells]
    primary, secondary = METRICS[cfg.task]
    summary = summarize(rows, primary, secondary)
    results = {
        "rows": rows,
        "summary": summary,
        "verdicts": verdicts(summary, rows, primary),
        "metric": {"primary": primary, "secondary": secondary},
        "data": {"source": loaded.source, "n": len(loaded), "test": test_how, "test_n": len(test),
                 "modality": modality.name, "fingerprint": loaded.fingerprint(), "test_copies_removed": leaked,
                 "labelled": int(np.sum(np.asarray(train.labels) >= 0)),
                 "unlabelled": int(np.sum(np.asarray(train.labels) < 0))},
        "config": to_dict(cfg),
        "versions": versions(),
    }  # fmt: skip
    (out / "results.json").write_text(json.dumps(results, indent=2))
    write_reports(out, results)
    return results

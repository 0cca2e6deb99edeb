"""The fine-tuning procedure: strategy -> supervised objective -> the shared loop (-> self-training) (-> the
pool's class prior)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from ptft.config import FinetuneConfig
from ptft.data.batch import Batch
from ptft.errors import ConfigError
from ptft.evaluate.metrics import regression_report
from ptft.finetune.predict import accuracy_of, predict_values
from ptft.finetune.prior import adapt_to_pool, estimate_pool
from ptft.finetune.selftrain import propagated_labels, pseudo_label
from ptft.finetune.strategies import STRATEGIES
from ptft.modalities import Modality
from ptft.models.heads import Classifier, RegressionHead
from ptft.objectives.consistency import PoolConsistency
from ptft.objectives.pairs import PairContrast, centroid_accuracy
from ptft.objectives.supervised import SupervisedClassification, SupervisedRegression
from ptft.train import BatchStream, Dist, TrainResult, train


@dataclass
class LabelledBatches:
    x_train: Batch
    y_train: torch.Tensor
    x_val: Batch
    y_val: torch.Tensor
    x_pool: Batch  # unlabeled: its labels are never looked at


class Interrupted(Exception):
    def __init__(self, result: TrainResult) -> None:
        super().__init__(f"stopped at step {result.steps} of {result.total_steps}")
        self.result = result


def supervised_objective(
    model: Classifier, cfg: FinetuneConfig, modality: Modality, pool: Batch
) -> SupervisedClassification | SupervisedRegression:
    """The fine-tuning loss `cfg` asks for, with the modality's augmentations."""
    if isinstance(model.head, RegressionHead):
        return SupervisedRegression(model)
    if cfg.strategy == "fixmatch":
        assert modality.views is not None, "run_finetune refuses fixmatch for a modality without views"
        return PoolConsistency(model, pool, modality.views, cfg.pool_ratio, cfg.pseudo_threshold, 1.0, cfg.augment)
    return SupervisedClassification(model, modality.finetune_augment if cfg.augment else None)


def _fit_once(
    model: Classifier,
    groups: list[dict[str, Any]],
    x: Batch,
    y: torch.Tensor,
    data: LabelledBatches,
    cfg: FinetuneConfig,
    modality: Modality,
    run_dir: Path | None,
    info: Dist,
    resume: bool,
    stop_at: int,
    desc: str,
    pairs: bool = False,
) -> TrainResult:
    """One training run of `model` on (x, y), validated on data.x_val; `pairs`: the encoder alone, by pair
    contrast, validated by class centroids (the head is not trained)."""
    regression = isinstance(model.head, RegressionHead)
    augment = modality.finetune_augment if cfg.augment else None
    objective = PairContrast(model, augment) if pairs else supervised_objective(model, cfg, modality, data.x_pool)
    stream = BatchStream(
        x, y, min(cfg.loop.batch_size, len(x)), cfg.loop.seed, info.rank, info.world, workers=cfg.loop.workers
    )

    def evaluate() -> dict[str, float]:
        if regression:  # higher is better for the loop: the negated validation RMSE
            return {"neg_rmse": -regression_report(data.y_val.numpy(), predict_values(model, data.x_val))["rmse"]}
        if pairs:
            return {"accuracy": centroid_accuracy(model, data.x_train, data.y_train, data.x_val, data.y_val)}
        return {"accuracy": accuracy_of(model, data.x_val, data.y_val)}

    monitor = "neg_rmse" if regression else "accuracy"
    hook = evaluate if len(data.x_val) else None  # no validation (the final fit of k-fold selection): --steps steps
    result = train(objective, stream, cfg.loop, run_dir, info, groups, hook, monitor, resume, stop_at, desc)
    if result.stopped == "interrupted":
        raise Interrupted(result)
    return result


def _stage_config(cfg: FinetuneConfig, share: float, index: int = 0) -> FinetuneConfig:
    """`cfg` for one stage of a staged strategy: its `--stage-steps` entry when given (k-fold's final fit, at
    each stage's own selected step), else `share` of the steps (or epochs)."""
    if cfg.stage_steps:
        return replace(cfg, loop=replace(cfg.loop, steps=cfg.stage_steps[index]))
    if share == 1.0:
        return cfg
    loop = replace(cfg.loop, steps=max(1, round(cfg.loop.steps * share)) if cfg.loop.steps else 0,
                   epochs=cfg.loop.epochs * share)  # fmt: skip
    return replace(cfg, loop=loop)


def _stages(
    model: Classifier, data: LabelledBatches, cfg: FinetuneConfig, modality: Modality, run_dir: Path | None,
    info: Dist, resume: bool, stop_at: int,
) -> dict[str, Any]:  # fmt: skip
    """Run the strategy's stages one after the other, each from where the last left the model (its best
    validation checkpoint). Only the first stage resumes exactly; a later one starts again."""
    stages = STRATEGIES.get(cfg.strategy)(model, cfg)
    if cfg.stage_steps and len(cfg.stage_steps) != len(stages):
        raise ConfigError(
            f"option 'stage_steps' gives {len(cfg.stage_steps)} stage(s), and strategy '{cfg.strategy}' has "
            f"{len(stages)} ({', '.join(s.name for s in stages)}): give one step count per stage, or none"
        )
    done = []
    for i, stage in enumerate(stages):
        stage_dir = run_dir if i == 0 or run_dir is None else run_dir / f"stage-{i}-{stage.name}"
        groups = stage.prepare(model, cfg)
        desc = "fine-tune" if len(stages) == 1 else f"fine-tune {stage.name}"
        stage_cfg = _stage_config(cfg, stage.share, i)
        result = _fit_once(model, groups, data.x_train, data.y_train, data, stage_cfg, modality,
                           stage_dir, info, resume and i == 0, stop_at if i == 0 else 0, desc,
                           stage.objective == "pairs")  # fmt: skip
        if stage.finish is not None:
            stage.finish(model)
        done.append((stage.name, result))
    last = done[-1][1]
    summary: dict[str, Any] = {
        ("val_neg_rmse" if isinstance(model.head, RegressionHead) else "val_accuracy"): last.best,
        "steps": sum(r.steps for _, r in done),
        "best_step": last.best_step,
        "curve": [list(point) for point in last.curve],  # (step, validation score) at every evaluation
        "stopped": last.stopped,
        "seconds": sum(r.seconds for _, r in done),
    }
    if len(done) > 1:
        summary["stages"] = [{"name": n, "steps": r.steps, "best_step": r.best_step, "val": r.best,
                              "curve": [list(p) for p in r.curve], "stopped": r.stopped} for n, r in done]  # fmt: skip
    return summary


def finetune(
    model: Classifier,
    data: LabelledBatches,
    cfg: FinetuneConfig,
    modality: Modality,
    run_dir: Path | None,
    info: Dist,
    resume: bool = False,
    stop_at: int = 0,
) -> dict[str, Any]:
    """Fine-tune `model` in place; returns a summary (validation accuracy, steps, why it stopped). With
    `--prior pool` the head then moves to the pool's class balance (finetune/prior.py)."""
    summary, trained_on, estimated = _fit(model, data, cfg, modality, run_dir, info, resume, stop_at)
    if cfg.prior == "pool":
        summary["prior"] = adapt_to_pool(model, trained_on, data.x_pool, cfg.loop.seed, estimated)
    return summary


def _fit(
    model: Classifier, data: LabelledBatches, cfg: FinetuneConfig, modality: Modality, run_dir: Path | None,
    info: Dist, resume: bool, stop_at: int,
) -> tuple[dict[str, Any], Batch, dict[str, Any] | None]:  # fmt: skip
    """The strategy's training (and self-training's student) -> (summary, the inputs the kept model trained
    on: the labelled ones, with the pseudo-labelled ones it was given, and with --prior pool self-training's
    estimate of the pool's shares, made by its teacher, by which the student is moved: finetune/prior.py says
    why)."""
    initial = {k: v.detach().clone() for k, v in model.state_dict().items()}
    spread = None
    if cfg.strategy == "label-prop":  # the labels spread over the pre-trained embedding first, then train
        chosen, pseudo = propagated_labels(model, data.x_train, data.y_train, data.x_pool, cfg.pseudo_threshold,
                                           cfg.pseudo_max_per_class)  # fmt: skip
        data = replace(data, x_train=Batch.cat([data.x_train, data.x_pool.rows(chosen)]),
                       y_train=torch.cat([data.y_train, pseudo]))  # fmt: skip
        spread = int(len(chosen))
    summary = _stages(model, data, cfg, modality, run_dir, info, resume, stop_at)
    if spread is not None:
        summary["pseudo_labels"] = spread
    result_best = summary.get("val_accuracy")
    if cfg.strategy != "self-train":
        return summary, data.x_train, None

    chosen, pseudo = pseudo_label(model, data.x_pool, cfg.pseudo_threshold, cfg.pseudo_max_per_class)
    teacher = {k: v.detach().clone() for k, v in model.state_dict().items()}
    summary.update(teacher_val_accuracy=result_best, pseudo_labels=int(len(chosen)))
    if len(chosen) == 0:
        summary["student"] = "skipped: no pool example reached the confidence threshold"
        return summary, data.x_train, None
    estimated = estimate_pool(model, data.x_train, data.x_pool, cfg.loop.seed) if cfg.prior == "pool" else None
    model.load_state_dict(initial)  # the student starts again from the pre-trained weights
    x = Batch.cat([data.x_train, data.x_pool.rows(chosen)])
    y = torch.cat([data.y_train, pseudo])
    student_dir = None if run_dir is None else run_dir / "self-train"
    groups = STRATEGIES.get("full")(model, cfg)[0].prepare(model, cfg)
    student = _fit_once(model, groups, x, y, data, cfg, modality, student_dir, info, False, 0, "self-train")
    summary.update(student_val_accuracy=student.best, seconds=summary["seconds"] + student.seconds)
    if (student.best or 0.0) < (result_best or 0.0):
        model.load_state_dict(teacher)  # keep whichever validates better
        summary["kept"] = "teacher"
        return summary, data.x_train, estimated  # the kept model's own estimate: not made twice
    summary.update(kept="student", val_accuracy=student.best, steps=summary["steps"] + student.steps)
    return summary, x, estimated

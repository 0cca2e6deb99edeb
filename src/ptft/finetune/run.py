"""The fine-tuning procedure: strategy -> supervised objective -> the shared loop (-> self-training)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ptft.config import FinetuneConfig
from ptft.evaluate.metrics import regression_report
from ptft.finetune.predict import accuracy_of, predict_values, token_counts
from ptft.finetune.selftrain import pseudo_label
from ptft.finetune.strategies import STRATEGIES
from ptft.models.heads import Classifier, RegressionHead
from ptft.objectives.consistency import PoolConsistency
from ptft.objectives.supervised import SupervisedClassification, SupervisedRegression
from ptft.train import BatchStream, Dist, TrainResult, train


@dataclass
class LabelledTensors:
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_pool: torch.Tensor  # unlabeled: its labels are never looked at


class Interrupted(Exception):
    def __init__(self, result: TrainResult) -> None:
        super().__init__(f"stopped at step {result.steps} of {result.total_steps}")
        self.result = result


def _fit_once(
    model: Classifier,
    x: torch.Tensor,
    y: torch.Tensor,
    data: LabelledTensors,
    cfg: FinetuneConfig,
    run_dir: Path | None,
    info: Dist,
    resume: bool,
    stop_at: int,
    desc: str,
) -> TrainResult:
    groups = STRATEGIES.get(cfg.strategy)(model, cfg.loop.lr, cfg.head_lr_scale)
    objective: SupervisedClassification | SupervisedRegression
    regression = isinstance(model.head, RegressionHead)
    if regression:
        objective = SupervisedRegression(model)
    elif cfg.strategy == "fixmatch":
        objective = PoolConsistency(model, data.x_pool, cfg.pool_ratio, cfg.pseudo_threshold, 1.0, cfg.augment)
    else:
        objective = SupervisedClassification(model, augment_inputs=cfg.augment and model.encoder.modality == "image")
    lengths = None if x.is_floating_point() else token_counts(model, x)
    stream = BatchStream(
        x, y, min(cfg.loop.batch_size, len(x)), cfg.loop.seed, info.rank, info.world, lengths, cfg.loop.workers
    )

    def evaluate() -> dict[str, float]:
        if regression:  # higher is better for the loop: the negated validation RMSE
            return {"neg_rmse": -regression_report(data.y_val.numpy(), predict_values(model, data.x_val))["rmse"]}
        return {"accuracy": accuracy_of(model, data.x_val, data.y_val)}

    monitor = "neg_rmse" if regression else "accuracy"
    result = train(objective, stream, cfg.loop, run_dir, info, groups, evaluate, monitor, resume, stop_at, desc)
    if result.stopped == "interrupted":
        raise Interrupted(result)
    return result


def finetune(
    model: Classifier,
    data: LabelledTensors,
    cfg: FinetuneConfig,
    run_dir: Path | None,
    info: Dist,
    resume: bool = False,
    stop_at: int = 0,
) -> dict[str, Any]:
    """Fine-tune `model` in place; returns a summary (validation accuracy, steps, why it stopped)."""
    initial = {k: v.detach().clone() for k, v in model.state_dict().items()}
    result = _fit_once(model, data.x_train, data.y_train, data, cfg, run_dir, info, resume, stop_at, "fine-tune")
    summary: dict[str, Any] = {
        ("val_neg_rmse" if isinstance(model.head, RegressionHead) else "val_accuracy"): result.best,
        "steps": result.steps,
        "stopped": result.stopped,
        "seconds": result.seconds,
    }
    if cfg.strategy != "self-train":
        return summary

    chosen, pseudo = pseudo_label(model, data.x_pool, cfg.pseudo_threshold, cfg.pseudo_max_per_class)
    teacher = {k: v.detach().clone() for k, v in model.state_dict().items()}
    summary.update(teacher_val_accuracy=result.best, pseudo_labels=int(len(chosen)))
    if len(chosen) == 0:
        summary["student"] = "skipped: no pool example reached the confidence threshold"
        return summary
    model.load_state_dict(initial)  # the student starts again from the pre-trained weights
    x = torch.cat([data.x_train, data.x_pool[chosen]])
    y = torch.cat([data.y_train, pseudo])
    student_dir = None if run_dir is None else run_dir / "self-train"
    student = _fit_once(model, x, y, data, cfg, student_dir, info, False, 0, "self-train")
    summary.update(student_val_accuracy=student.best, seconds=result.seconds + student.seconds)
    if (student.best or 0.0) < (result.best or 0.0):
        model.load_state_dict(teacher)  # keep whichever validates better
        summary["kept"] = "teacher"
    else:
        summary.update(kept="student", val_accuracy=student.best, steps=result.steps + student.steps)
    return summary

"""Python API in the manner of scikit-learn: `Pretrainer(...).fit()`, `FineTuner(...).fit().predict()`,
`load(path)`. The CLI is a thin layer over these; the work itself is done below (`ptft.train.pretrain`,
`ptft.finetune.job`, `ptft.finetune.model`), where the study shares it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ptft.config import CompareConfig, FinetuneConfig, PretrainConfig, build
from ptft.data.types import Examples
from ptft.errors import RunInterrupted
from ptft.finetune.job import run_finetune
from ptft.finetune.model import DataLike, Model, load, read_as
from ptft.finetune.strategies import STRATEGIES
from ptft.objectives import OBJECTIVES
from ptft.train.pretrain import check_options, dry_run, pretrain

__all__ = ["FineTuner", "Model", "Pretrainer", "RunInterrupted", "compare", "load", "read_as"]


class Pretrainer:
    """Self-supervised pre-training of an encoder on unlabeled data; writes a bundle to `out`."""

    def __init__(self, config: PretrainConfig | None = None, **overrides: Any) -> None:
        self.config = build(PretrainConfig, overrides, base=config)
        if self.config.objective != "auto":
            OBJECTIVES.get(self.config.objective)  # fail early on an unknown name
        check_options(self.config)

    def fit(self, data: str | Examples | None = None, stop_at: int = 0) -> Pretrainer:
        source = data if data is not None else self.config.data
        if self.config.dry_run:
            self.estimate_ = dry_run(self.config, source)
            return self
        done = pretrain(self.config, source, stop_at)
        self.run_dir, self.result, self.data_ = done.run_dir, done.result, done.data  # data_: the bundle's report
        return self


class FineTuner:
    """Fine-tune a pre-trained bundle (or a fresh encoder: the scratch baseline) on a label budget."""

    def __init__(self, config: FinetuneConfig | None = None, **overrides: Any) -> None:
        self.config = build(FinetuneConfig, overrides, base=config)
        STRATEGIES.get(self.config.strategy)

    def fit(self, data: DataLike | None = None, stop_at: int = 0) -> FineTuner:
        done = run_finetune(self.config, data, stop_at)
        self.model_, self.metrics_, self.run_dir = done.model, done.metrics, done.run_dir
        return self

    def _fitted(self) -> Model:
        if not hasattr(self, "model_"):
            raise RuntimeError("FineTuner is not fitted: call fit() first")
        return self.model_

    def predict(self, data: DataLike | np.ndarray | list[str]) -> list[str] | list[float]:
        return self._fitted().predict(data)

    def predict_proba(self, data: DataLike | np.ndarray | list[str]) -> np.ndarray:
        return self._fitted().predict_proba(data)

    def evaluate(self, data: DataLike) -> dict[str, Any]:
        return self._fitted().evaluate(data)


def compare(config: CompareConfig | None = None, data: Examples | None = None, **overrides: Any) -> dict[str, Any]:
    """`ptft compare`: every method x label budget x seed on paired splits; writes the study to `out` and
    returns its results (rows, summary with 95 % intervals, verdict sentences)."""
    from ptft.evaluate.compare import compare as run

    return run(build(CompareConfig, overrides, base=config), data)

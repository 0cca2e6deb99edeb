"""Fine-tuning strategies: small functions that prepare a classifier and return its parameter groups.

`full` trains everything (head at a higher rate), `linear` freezes the encoder (linear probe),
`self-train` is `full` followed by pseudo-labelling of the unlabeled pool (see selftrain.py),
`fixmatch` is `full` with a consistency loss on the pool at every step (objectives/consistency.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ptft.models.heads import Classifier
from ptft.registry import Registry

ParamGroups = list[dict[str, Any]]
STRATEGIES: Registry[Callable[[Classifier, float, float], ParamGroups]] = Registry("strategy")


@STRATEGIES.register("full")
def full(model: Classifier, lr: float, head_lr_scale: float) -> ParamGroups:
    return [
        {"params": list(model.encoder.parameters()), "lr": lr},
        {"params": list(model.head.parameters()), "lr": lr * head_lr_scale},
    ]


@STRATEGIES.register("linear")
def linear(model: Classifier, lr: float, head_lr_scale: float) -> ParamGroups:
    model.freeze_encoder()
    return [{"params": list(model.head.parameters()), "lr": lr * head_lr_scale}]


STRATEGIES.register("self-train")(full)
STRATEGIES.register("fixmatch")(full)  # + pool consistency in the objective (see finetune/run.py)

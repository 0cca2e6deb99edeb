"""BYOL: an online network learns to predict a momentum target network's projection of another view.

Grill et al. 2020, "Bootstrap Your Own Latent". Two augmented views (SimCLR's, `augment.py`) go through the
online encoder + projector + predictor and through the target encoder + projector, whose weights are an
exponential moving average of the online ones (momentum from `momentum` to 1 along a cosine over the
training, updated after every optimiser step by `after_step`). No negatives, so no large batch is needed.
The loss is the symmetrised normalised squared error, 2 - 2 cos(prediction, target). Only the online
encoder is kept after pre-training.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ptft.data.batch import Batch
from ptft.models.base import Encoder, mean_pool
from ptft.objectives.augment import SIMCLR_VIEWS, augment
from ptft.objectives.registry import OBJECTIVES, Objective


def byol_loss(p1: torch.Tensor, p2: torch.Tensor, t1: torch.Tensor, t2: torch.Tensor) -> torch.Tensor:
    """Symmetrised BYOL loss: view 1's prediction against view 2's target and the other way round.

    p1, p2: (B, E) online predictions; t1, t2: (B, E) target projections (no gradient flows into them).
    Each term is ||p/|p| - t/|t|||^2 = 2 - 2 cos(p, t), averaged over the batch. Returns a scalar.
    """

    def term(p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return (2 - 2 * F.cosine_similarity(p.float(), t.detach().float(), dim=-1)).mean()

    return term(p1, t2) + term(p2, t1)


def target_momentum(base: float, progress: float) -> float:
    """BYOL's schedule: `base` at the start, 1 at the end, along a cosine in `progress` (0..1)."""
    return 1 - (1 - base) * (math.cos(math.pi * min(1.0, max(0.0, progress))) + 1) / 2


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """target <- momentum * target + (1 - momentum) * online, parameter by parameter; buffers copied."""
    for weight, new in zip(target.parameters(), online.parameters(), strict=True):
        weight.lerp_(new.detach(), 1 - momentum)
    for buffer, current in zip(target.buffers(), online.buffers(), strict=True):
        buffer.copy_(current)


def mlp(dim_in: int, hidden: int, dim_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(dim_in, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, dim_out))


@dataclass(frozen=True)
class BYOLOptions:
    momentum: float = 0.99  # the target's starting EMA momentum (BYOL: 0.996, for long runs; short ones move faster)
    projection_dim: int = 128  # width of the projector's and predictor's outputs (dropped after pre-training)

    def __post_init__(self) -> None:
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must lie in [0, 1), got {self.momentum}")
        if self.projection_dim < 1:
            raise ValueError(f"projection_dim must be at least 1, got {self.projection_dim}")


@OBJECTIVES.register("byol")
class BYOL(Objective):
    modalities = ("image",)
    Options = BYOLOptions

    def __init__(self, encoder: Encoder, options: BYOLOptions = BYOLOptions()) -> None:
        super().__init__()
        self.encoder = encoder
        self.base_momentum = options.momentum
        D, E = encoder.dim, options.projection_dim
        self.projector = mlp(D, D, E)
        self.predictor = mlp(E, D, E)
        self.target = nn.ModuleDict({"encoder": copy.deepcopy(encoder), "projector": copy.deepcopy(self.projector)})
        self.target.requires_grad_(False)  # moved by `after_step` only, never by the optimiser

    def after_step(self, progress: float) -> None:
        momentum = target_momentum(self.base_momentum, progress)
        ema_update(self.target["encoder"], self.encoder, momentum)
        ema_update(self.target["projector"], self.projector, momentum)

    def forward(self, batch: Batch, y: torch.Tensor | None = None) -> torch.Tensor:
        x = Batch.of(batch).x  # (B, C, H, W)
        views = torch.cat([augment(x, SIMCLR_VIEWS), augment(x, SIMCLR_VIEWS)])  # one pass per network
        p1, p2 = self.predictor(self.projector(mean_pool(self.encoder(views)))).chunk(2)
        with torch.no_grad():
            self.target.train(self.training)
            t1, t2 = self.target["projector"](mean_pool(self.target["encoder"](views))).chunk(2)
        return byol_loss(p1, p2, t1, t2)

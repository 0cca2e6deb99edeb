"""SimCLR: contrastive pre-training with two augmented views and the InfoNCE (NT-Xent) loss.

Chen, Kornblith, Norouzi, Hinton 2020, "A Simple Framework for Contrastive Learning of Visual
Representations". Views come from `augment.py`; the projection head is dropped after pre-training.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ptft.data.batch import Batch
from ptft.models.base import Encoder, mean_pool
from ptft.objectives.augment import SIMCLR_VIEWS, augment
from ptft.objectives.registry import OBJECTIVES, Objective


def info_nce(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """NT-Xent over 2B embeddings: each view's positive is the other view of the same image.

    z1, z2: (B, E) projections (any scale; they are L2-normalised here). Returns a scalar.
    """
    z = F.normalize(torch.cat([z1, z2]).float(), dim=1)  # (2B, E)
    logits = z @ z.T / temperature  # (2B, 2B)
    logits.fill_diagonal_(float("-inf"))  # an embedding is not its own negative
    B = z1.shape[0]
    targets = torch.cat([torch.arange(B, 2 * B), torch.arange(0, B)]).to(z.device)
    return F.cross_entropy(logits, targets)


@dataclass(frozen=True)
class SimCLROptions:
    temperature: float = 0.2  # InfoNCE temperature
    projection_dim: int = 128  # width of the projection head's output (dropped after pre-training)

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise ValueError(f"temperature must be positive, got {self.temperature}")
        if self.projection_dim < 1:
            raise ValueError(f"projection_dim must be at least 1, got {self.projection_dim}")


@OBJECTIVES.register("simclr")
class SimCLR(Objective):
    modalities = ("image",)
    Options = SimCLROptions

    def __init__(self, encoder: Encoder, options: SimCLROptions = SimCLROptions()) -> None:
        super().__init__()
        self.encoder = encoder
        self.temperature = options.temperature
        D = encoder.dim
        self.projector = nn.Sequential(
            nn.Linear(D, D), nn.BatchNorm1d(D), nn.ReLU(), nn.Linear(D, options.projection_dim)
        )

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.projector(mean_pool(self.encoder(x)))

    def forward(self, batch: Batch, y: torch.Tensor | None = None) -> torch.Tensor:
        x = Batch.of(batch).x  # (B, C, H, W)
        views = torch.cat([augment(x, SIMCLR_VIEWS), augment(x, SIMCLR_VIEWS)])  # one encoder pass
        z1, z2 = self.embed(views).chunk(2)
        return info_nce(z1, z2, self.temperature)

"""SimCLR: contrastive pre-training with two augmented views and the InfoNCE (NT-Xent) loss.

Chen, Kornblith, Norouzi, Hinton 2020, "A Simple Framework for Contrastive Learning of Visual
Representations". Views come from `augment.py`; the projection head is dropped after pre-training.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

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


@OBJECTIVES.register("simclr")
class SimCLR(Objective):
    def __init__(self, encoder: Encoder, temperature: float = 0.2, projection_dim: int = 128) -> None:
        super().__init__()
        self.encoder = encoder
        self.temperature = temperature
        D = encoder.dim
        self.projector = nn.Sequential(nn.Linear(D, D), nn.BatchNorm1d(D), nn.ReLU(), nn.Linear(D, projection_dim))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.projector(mean_pool(self.encoder(x)))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        views = torch.cat([augment(x, SIMCLR_VIEWS), augment(x, SIMCLR_VIEWS)])  # one encoder pass
        z1, z2 = self.embed(views).chunk(2)
        return info_nce(z1, z2, self.temperature)

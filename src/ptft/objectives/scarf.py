"""SCARF for tables (Bahri, Jiang, Tay, Metzler 2022, "SCARF: Self-Supervised Contrastive Learning using
Random Feature Corruption"): a row's positive view replaces a random share of its cells with the same
column's value in another random row of the batch (a draw from that column's marginal), and InfoNCE pulls
a row and its corrupted view together against the other rows. The projection head is dropped after
pre-training. The corruption keeps each value inside its column's observed values, categories included.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ptft.data.batch import Batch
from ptft.models.base import Encoder, mean_pool
from ptft.objectives.registry import OBJECTIVES, Objective
from ptft.objectives.simclr import info_nce


def corrupt(batch: Batch, rate: float, generator: torch.Generator | None = None) -> Batch:
    """Each cell replaced with probability `rate` by its column's cell in a random row of the batch (a numeric
    cell moves with its missing flag)."""
    numeric, missing, categorical = batch["numeric"], batch["missing"], batch["categorical"]
    B = len(batch)
    device = numeric.device

    def swap(x: torch.Tensor, *also: torch.Tensor) -> list[torch.Tensor]:
        rows = torch.randint(0, B, x.shape, generator=generator, device=device)
        replace = torch.rand(x.shape, generator=generator, device=device) < rate
        return [torch.where(replace, t.gather(0, rows), t) for t in (x, *also)]

    numeric, missing = swap(numeric, missing)
    (categorical,) = swap(categorical)
    return Batch({"numeric": numeric, "missing": missing, "categorical": categorical})


@dataclass(frozen=True)
class SCARFOptions:
    mask_ratio: float = 0.6  # share of each row's cells replaced in its positive view (SCARF's corruption rate)
    temperature: float = 1.0  # InfoNCE temperature (SCARF's)
    projection_dim: int = 128  # width of the projection head (dropped after pre-training)

    def __post_init__(self) -> None:
        if not 0 < self.mask_ratio < 1:
            raise ValueError(f"mask_ratio must lie in (0, 1), got {self.mask_ratio}")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be positive, got {self.temperature}")
        if self.projection_dim < 1:
            raise ValueError(f"projection_dim must be at least 1, got {self.projection_dim}")


@OBJECTIVES.register("scarf")
class SCARF(Objective):
    encoder: Encoder
    modalities = ("table",)
    Options = SCARFOptions

    def __init__(self, encoder: Encoder, options: SCARFOptions = SCARFOptions()) -> None:
        super().__init__()
        self.encoder, self.rate, self.temperature = encoder, options.mask_ratio, options.temperature
        D = encoder.dim
        self.projector = nn.Sequential(nn.Linear(D, D), nn.ReLU(), nn.Linear(D, options.projection_dim))

    def forward(self, batch: Batch, y: torch.Tensor | None = None) -> torch.Tensor:
        both = Batch.cat([batch, corrupt(batch, self.rate)])  # one encoder pass
        z1, z2 = self.projector(mean_pool(*self.encoder.encode(both))).chunk(2)
        return info_nce(z1, z2, self.temperature)

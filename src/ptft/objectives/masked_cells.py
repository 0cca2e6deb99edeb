"""Masked-cell modelling for tables: hide a share of each row's cells, predict them from the rest.

The tabular counterpart of MLM and MAE (as in VIME's feature reconstruction, Yoon et al. 2020, and the
masked-cell objectives of TabTransformer/SAINT): a hidden numeric cell is set to 0 (the median after the
normaliser's quantile transform) with its missing indicator on, a hidden category to the missing id, and
a small decoder over the pooled embedding predicts the numeric scores (MSE) and the categories
(cross-entropy) of the hidden cells only. Cells that were missing in the data are never targets.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ptft.data.batch import Batch
from ptft.models.base import Encoder, mean_pool
from ptft.objectives.registry import OBJECTIVES, Objective

MISSING_ID = 0  # the normaliser's id of a missing category


@dataclass(frozen=True)
class HiddenCells:
    """A batch with some cells hidden, and where: `numeric` (B, n) and `categorical` (B, m) bool masks."""

    batch: Batch
    numeric: torch.Tensor
    categorical: torch.Tensor


def hide_cells(batch: Batch, ratio: float, generator: torch.Generator | None = None) -> HiddenCells:
    """Each present cell hidden with probability `ratio`: a number -> 0 with its missing flag set, a category ->
    missing."""
    numeric, missing, categorical = batch["numeric"], batch["missing"], batch["categorical"]
    draw_n = torch.rand(numeric.shape, generator=generator, device=numeric.device)
    draw_c = torch.rand(categorical.shape, generator=generator, device=categorical.device)
    hide_n = (draw_n < ratio) & (missing == 0)
    hide_c = (draw_c < ratio) & (categorical != MISSING_ID)
    hidden = Batch({
        "numeric": numeric.masked_fill(hide_n, 0.0),
        "missing": missing.masked_fill(hide_n, 1.0),
        "categorical": categorical.masked_fill(hide_c, MISSING_ID),
    })  # fmt: skip
    return HiddenCells(hidden, hide_n, hide_c)


def masked_cell_loss(
    numeric_pred: torch.Tensor,
    numeric_true: torch.Tensor,
    hidden_numeric: torch.Tensor,
    category_logits: list[torch.Tensor],
    category_true: torch.Tensor,
    hidden_categorical: torch.Tensor,
) -> torch.Tensor:
    """Squared error of the hidden numeric cells plus cross-entropy of the hidden categories, averaged over
    every hidden cell (0 when none is hidden). `category_logits[j]`: (B, ids of column j)."""
    total = ((numeric_pred.float() - numeric_true.float()) ** 2 * hidden_numeric).sum()
    for j, logits in enumerate(category_logits):
        rows = hidden_categorical[:, j]
        if rows.any():
            total = total + F.cross_entropy(logits[rows].float(), category_true[rows, j], reduction="sum")
    count = hidden_numeric.sum() + hidden_categorical.sum()
    return total / count.clamp_min(1)


@dataclass(frozen=True)
class MaskedCellsOptions:
    mask_ratio: float = 0.3  # share of each row's cells hidden and predicted

    def __post_init__(self) -> None:
        if not 0 < self.mask_ratio < 1:
            raise ValueError(f"mask_ratio must lie in (0, 1), got {self.mask_ratio}")


@OBJECTIVES.register("masked-cells")
class MaskedCells(Objective):
    encoder: Encoder
    modalities = ("table",)
    Options = MaskedCellsOptions

    def __init__(
        self, encoder: Encoder, options: MaskedCellsOptions = MaskedCellsOptions(), numeric: int = 0,
        cardinalities: list[int] | None = None,
    ) -> None:  # fmt: skip
        super().__init__()
        self.encoder, self.ratio = encoder, options.mask_ratio
        self.cardinalities = list(cardinalities or [])
        D = encoder.dim
        self.decoder = nn.Sequential(nn.Linear(D, D), nn.GELU(), nn.Linear(D, numeric + sum(self.cardinalities)))
        self.numeric = numeric

    def forward(self, batch: Batch, y: torch.Tensor | None = None) -> torch.Tensor:
        hidden = hide_cells(batch, self.ratio)
        out = self.decoder(mean_pool(*self.encoder.encode(hidden.batch)))
        numeric_pred, *logits = out.split([self.numeric, *self.cardinalities], dim=1)
        return masked_cell_loss(numeric_pred, batch["numeric"], hidden.numeric, logits, batch["categorical"],
                                hidden.categorical)  # fmt: skip

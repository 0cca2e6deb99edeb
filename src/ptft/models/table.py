"""Table encoders over `TableNormalizer` batches (`numeric`, `missing`, `categorical`).

- `table-mlp` (`--encoder mlp` on a table): the numeric scores, the missing indicators of the columns that had
  gaps at fit, and an embedding per categorical column, concatenated and fed through `depth` plain layers
  (linear, activation, dropout: no normalisation, so the founding article's network - 3 inputs, one hidden
  layer of sigmoid units - is exactly `--depth 1 --dim 2 --activation sigmoid`); one token out.
- `ft-transformer` (Gorishniy et al. 2021, "Revisiting Deep Learning Models for Tabular Data"): a token per
  column - a numeric value times a learned vector plus a bias (plus a learned vector where the cell was
  missing), a categorical value's embedding plus a bias - after a class token, through the shared pre-norm
  trunk: (B, 1 + columns, D).
"""

from __future__ import annotations

import torch
from torch import nn

from ptft.data.batch import Batch
from ptft.models.activations import make_activation
from ptft.models.base import ENCODERS, Encoder
from ptft.models.transformer import Trunk


class CategoryEmbedding(nn.Module):
    """One embedding table for every categorical column (each column's ids offset into it): (B, m) -> (B, m, E)."""

    def __init__(self, cardinalities: list[int], dim: int) -> None:
        super().__init__()
        offsets = torch.tensor([0, *cardinalities[:-1]], dtype=torch.long).cumsum(0) if cardinalities else None
        self.offsets: torch.Tensor
        self.register_buffer("offsets", offsets if offsets is not None else torch.zeros(0, dtype=torch.long))
        self.table = nn.Embedding(max(sum(cardinalities), 1), dim)
        nn.init.normal_(self.table.weight, std=0.1)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.table(ids + self.offsets)


def embed_width(cardinalities: list[int]) -> int:
    """The MLP's width per categorical column: grows with the largest vocabulary, from 4 to 16."""
    return min(16, max(4, round(1.6 * max(cardinalities, default=2) ** 0.56)))


@ENCODERS.register("table-mlp")
class TableMLP(Encoder):
    modality = "table"
    plain_head = True  # the seed's network: hidden units straight into a logistic output

    def __init__(
        self,
        numeric: int,
        missing_flags: list[int],
        cardinalities: list[int],
        dim: int = 256,
        depth: int = 2,
        activation: str = "relu",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if numeric + len(cardinalities) == 0:
            raise ValueError("a table encoder needs at least one column")
        self.dim, self.flags = dim, list(missing_flags)
        width = embed_width(cardinalities)
        self.categories = CategoryEmbedding(cardinalities, width) if cardinalities else None
        width_in = numeric + len(self.flags) + width * len(cardinalities)
        layers = []
        for _ in range(max(1, depth)):
            layers.append(nn.Sequential(nn.Linear(width_in, dim), make_activation(activation), nn.Dropout(dropout)))
            width_in = dim
        self.blocks = nn.ModuleList(layers)

    def encode(self, batch: Batch | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        assert isinstance(batch, Batch), "table encoders read a Batch of numeric, missing and categorical"
        parts = [batch["numeric"], batch["missing"][:, self.flags]]
        if self.categories is not None:
            parts.append(self.categories(batch["categorical"]).flatten(1))
        return self(torch.cat(parts, 1)), None

    def forward(self, x: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        for layer in self.blocks:
            x = layer(x)
        return x.unsqueeze(1)  # (B, 1, D)


@ENCODERS.register("ft-transformer")
class FTTransformer(Encoder):
    modality = "table"

    def __init__(
        self,
        numeric: int,
        missing_flags: list[int],
        cardinalities: list[int],
        dim: int = 64,
        depth: int = 3,
        heads: int = 8,
        activation: str = "gelu",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if numeric + len(cardinalities) == 0:
            raise ValueError("a table encoder needs at least one column")
        self.dim = dim
        self.weight = nn.Parameter(torch.randn(numeric, dim) * dim**-0.5)
        self.missing = nn.Parameter(torch.zeros(numeric, dim))
        self.bias = nn.Parameter(torch.zeros(numeric + len(cardinalities), dim))
        self.categories = CategoryEmbedding(cardinalities, dim) if cardinalities else None
        self.cls = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.trunk = Trunk(dim, depth, heads, activation, dropout)

    @property
    def blocks(self) -> nn.ModuleList:  # type: ignore[override]
        return self.trunk.blocks

    def encode(self, batch: Batch | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        assert isinstance(batch, Batch), "table encoders read a Batch of numeric, missing and categorical"
        numeric = batch["numeric"].unsqueeze(-1) * self.weight + batch["missing"].unsqueeze(-1) * self.missing
        tokens = [numeric]
        if self.categories is not None:
            tokens.append(self.categories(batch["categorical"]))
        x = torch.cat(tokens, 1) + self.bias
        return self(x), None

    def forward(self, x: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, columns, D) column tokens -> (B, 1 + columns, D)."""
        return self.trunk(torch.cat([self.cls.expand(len(x), -1, -1), x], 1))

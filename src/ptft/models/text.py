"""Text encoder: token embeddings + learned positions -> the shared pre-norm transformer trunk.

The BERT recipe (Devlin et al. 2019) on ptft's trunk (pre-norm blocks with SDPA, as for ViT): inputs
are right-padded (B, T) token ids from `TextTokenizer`; padding is found from `pad_id` and the columns
that are padding in every row are dropped before any compute (`trim_padding`).
"""

from __future__ import annotations

import torch
from torch import nn

from ptft.models.base import ENCODERS, Encoder, trim_padding
from ptft.models.transformer import Trunk


@ENCODERS.register("transformer")
class TextTransformer(Encoder):
    modality = "text"

    def __init__(
        self,
        vocab_size: int,
        pad_id: int = 0,
        max_length: int = 128,
        dim: int = 256,
        depth: int = 4,
        heads: int = 4,
        activation: str = "gelu",
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if vocab_size < 2 or not 0 <= pad_id < vocab_size:
            raise ValueError(f"vocab_size {vocab_size} with pad_id {pad_id} is not a vocabulary")
        self.dim, self.pad_id, self.max_length = dim, pad_id, max_length
        self.token_embedding = nn.Embedding(vocab_size, dim)
        self.pos = nn.Parameter(torch.randn(1, max_length, dim) * 0.02)
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        self.dropout = nn.Dropout(dropout)
        self.trunk = Trunk(dim, depth, heads, activation, dropout)

    @property
    def blocks(self) -> nn.ModuleList:  # type: ignore[override]
        return self.trunk.blocks

    def padding(self, x: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        return trim_padding(x, x == self.pad_id if pad_mask is None else pad_mask)[1]

    def forward(self, x: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        if x.dtype.is_floating_point or x.ndim != 2:
            raise ValueError(f"the text encoder reads (B, T) integer token ids, got {x.dtype} {tuple(x.shape)}")
        ids, pad_mask = trim_padding(x, x == self.pad_id if pad_mask is None else pad_mask)
        if ids.shape[1] > self.max_length:
            raise ValueError(f"sequence of {ids.shape[1]} tokens is longer than max_length {self.max_length}")
        tokens = self.token_embedding(ids) + self.pos[:, : ids.shape[1]]
        return self.trunk(self.dropout(tokens), pad_mask)

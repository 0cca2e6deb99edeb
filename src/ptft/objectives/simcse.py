"""A sentence-level contrastive objective for text: each text is encoded twice under independent noise and
its two pooled embeddings are pulled together against the other texts of the batch (InfoNCE), so
pre-training shapes the pooled embedding that classification reads.

The noise is the encoder's own dropout, as in unsupervised SimCSE (Gao, Yao, Chen 2021, "SimCSE: Simple
Contrastive Learning of Sentence Embeddings": temperature 0.05, dropout 0.1), plus a share of the real
tokens replaced by [MASK] in each view (token cutoff, Shen et al. 2020), so that an encoder without
dropout (ptft's text default) still sees two different views. The loss is SimCLR's `info_nce`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ptft.data.batch import Batch
from ptft.models.base import Encoder, mean_pool
from ptft.objectives.registry import OBJECTIVES, Objective
from ptft.objectives.simclr import info_nce


def token_cutoff(
    ids: torch.Tensor, maskable: torch.Tensor, mask_id: int, ratio: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """(B, T) ids with each maskable token replaced by `mask_id` with probability `ratio`."""
    drop = (torch.rand(ids.shape, generator=generator, device=ids.device) < ratio) & maskable
    return ids.masked_fill(drop, mask_id)


@dataclass(frozen=True)
class SimCSEOptions:
    temperature: float = 0.05  # InfoNCE temperature (SimCSE's)
    mask_ratio: float = 0.1  # share of the real tokens masked in each view (the noise besides dropout)

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise ValueError(f"temperature must be positive, got {self.temperature}")
        if not 0 <= self.mask_ratio < 1:
            raise ValueError(f"mask_ratio must lie in [0, 1), got {self.mask_ratio}")


@OBJECTIVES.register("simcse")
class SimCSE(Objective):
    modalities = ("text",)
    Options = SimCSEOptions

    def __init__(
        self, encoder: Encoder, options: SimCSEOptions, mask_id: int, special_ids: list[int] | tuple[int, ...]
    ) -> None:
        super().__init__()
        self.encoder: Encoder = encoder
        self.temperature, self.mask_ratio, self.mask_id = options.temperature, options.mask_ratio, mask_id
        self.special: torch.Tensor
        self.register_buffer("special", torch.tensor(sorted(set(special_ids)), dtype=torch.long), persistent=False)

    def embed(self, ids: torch.Tensor, pad_mask: torch.Tensor) -> torch.Tensor:
        maskable = ~pad_mask & ~torch.isin(ids, self.special)
        return mean_pool(self.encoder(token_cutoff(ids, maskable, self.mask_id, self.mask_ratio), pad_mask), pad_mask)

    def forward(self, batch: Batch, y: torch.Tensor | None = None) -> torch.Tensor:
        batch = Batch.of(batch)
        pad_mask = self.encoder.padding(batch.x, batch.pad_mask)
        assert pad_mask is not None
        ids = batch.x[:, : pad_mask.shape[1]]
        return info_nce(self.embed(ids, pad_mask), self.embed(ids, pad_mask), self.temperature)

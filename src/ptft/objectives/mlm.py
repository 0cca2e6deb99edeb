"""Masked language modelling (BERT: Devlin et al. 2019, section 3.1).

15 % of the real tokens are chosen; of those 80 % become [MASK], 10 % a random token and 10 % stay as
they are; the model predicts the original token at the chosen positions only. The vocabulary
projection (the costly part: D x V per position) is computed for those positions alone, not for the
whole (B, T) grid; the output layer is tied to the input embeddings (Press & Wolf 2017).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ptft.data.batch import Batch
from ptft.models.base import Encoder
from ptft.objectives.registry import OBJECTIVES, Objective

IGNORE = -100  # label of positions that carry no loss (as in torch.nn.functional.cross_entropy)
MASKED_MULTIPLE = 64  # masked positions are projected in groups of this many rows (see mlm_loss)


def mlm_mask(
    ids: torch.Tensor,
    maskable: torch.Tensor,
    mask_id: int,
    vocab_size: int,
    ratio: float = 0.15,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """-> (inputs, labels): BERT's corruption of (B, T) ids.

    `maskable` (B, T) bool marks real tokens (not padding or [CLS]/[SEP]). Each is chosen with
    probability `ratio` (at least one per row that has any); chosen tokens become [MASK] (80 %), a
    random token (10 %) or stay (10 %). `labels` holds the original id where chosen, IGNORE elsewhere."""

    def draw(shape: torch.Size) -> torch.Tensor:
        return torch.rand(shape, generator=generator, device=ids.device)

    scores = draw(ids.shape).masked_fill(~maskable, 2.0)  # > 1: never chosen
    chosen = scores < ratio
    lowest = scores.argmin(dim=1, keepdim=True)  # rows where chance chose nothing keep their likeliest token
    none = ~chosen.any(dim=1, keepdim=True) & maskable.any(dim=1, keepdim=True)
    chosen |= none & torch.zeros_like(chosen).scatter_(1, lowest, True)
    labels = ids.masked_fill(~chosen, IGNORE)
    action = draw(ids.shape)
    inputs = ids.masked_fill(chosen & (action < 0.8), mask_id)
    swap = chosen & (action >= 0.8) & (action < 0.9)
    random_ids = torch.randint(vocab_size, ids.shape, generator=generator, device=ids.device)
    inputs = torch.where(swap, random_ids, inputs)
    return inputs, labels


def mlm_loss(
    hidden: torch.Tensor, labels: torch.Tensor, project: nn.Module, multiple: int = MASKED_MULTIPLE
) -> torch.Tensor:
    """Mean cross-entropy over the chosen positions; `project` maps (M, D) -> (M, V) logits and is
    applied to those M positions only - padded to a multiple of `multiple` rows (which carry no loss), so
    that the projection sees few distinct shapes (each new one costs the CPU math library a kernel build
    and cached memory)."""
    if hidden.shape[:2] != labels.shape:
        raise ValueError(f"hidden states {tuple(hidden.shape)} do not match labels {tuple(labels.shape)}")
    index = (labels.flatten() != IGNORE).nonzero().squeeze(1)
    count = len(index)
    extra = -count % multiple
    targets = F.pad(labels.flatten()[index], (0, extra), value=IGNORE)
    logits = project(hidden.flatten(0, 1)[F.pad(index, (0, extra))])  # extra rows: position 0, ignored
    return F.cross_entropy(logits.float(), targets, ignore_index=IGNORE)


class MLMHead(nn.Module):
    """BERT's prediction head: dense + GELU + LayerNorm, then the output embedding tied to the input one."""

    def __init__(self, dim: int, embedding: nn.Embedding) -> None:
        super().__init__()
        self.transform = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.LayerNorm(dim))
        self.embedding = [embedding]  # a list: the tied weight is registered once, in the encoder
        self.bias = nn.Parameter(torch.zeros(embedding.num_embeddings))

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return F.linear(self.transform(hidden), self.embedding[0].weight, self.bias)


@dataclass(frozen=True)
class MLMOptions:
    mask_ratio: float = 0.15  # fraction of the real tokens chosen for prediction

    def __post_init__(self) -> None:
        if not 0 < self.mask_ratio < 1:
            raise ValueError(f"mask_ratio must lie in (0, 1), got {self.mask_ratio}")


@OBJECTIVES.register("mlm")
class MaskedLanguageModelling(Objective):
    modalities = ("text",)
    Options = MLMOptions

    def __init__(self, encoder: Encoder, options: MLMOptions, mask_id: int, special_ids: list[int] | tuple[int, ...]):
        super().__init__()
        embedding = getattr(encoder, "token_embedding", None)
        if not isinstance(embedding, nn.Embedding):
            raise ValueError(f"masked language modelling needs a token-embedding encoder, not {type(encoder).__name__}")
        mask_ratio = options.mask_ratio
        self.encoder: Encoder = encoder
        self.head = MLMHead(encoder.dim, embedding)
        self.mask_id, self.vocab_size, self.mask_ratio = mask_id, embedding.num_embeddings, mask_ratio
        self.special: torch.Tensor
        self.register_buffer("special", torch.tensor(sorted(set(special_ids)), dtype=torch.long), persistent=False)

    def forward(self, batch: Batch, y: torch.Tensor | None = None) -> torch.Tensor:
        batch = Batch.of(batch)
        x = batch.x  # (B, T) token ids
        pad_mask = self.encoder.padding(x, batch.pad_mask)
        assert pad_mask is not None
        ids = x[:, : pad_mask.shape[1]]
        maskable = ~pad_mask & ~torch.isin(ids, self.special)
        inputs, labels = mlm_mask(ids, maskable, self.mask_id, self.vocab_size, self.mask_ratio)
        hidden = self.encoder(inputs, pad_mask)
        return mlm_loss(hidden, labels, self.head)

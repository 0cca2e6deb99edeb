"""Replaced-token detection (ELECTRA: Clark, Luong, Le, Manning 2020, "ELECTRA: Pre-training Text Encoders as
Discriminators Rather Than Generators"). A small generator is trained by masked language modelling; its
samples replace the masked tokens, and the encoder being pre-trained (the discriminator) tells, for every
real token, whether it was replaced. Every token carries a loss, not only the 15 % masked ones, which is why
ELECTRA learns more per FLOP (at equal compute ELECTRA-Small beat BERT-Small by about 5 GLUE points).

The generator is a one-block `transformer` of half the encoder's width with its own embedding (the paper
shares it; separate ones keep the bundle the encoder's alone); the discriminator's loss weighs 50 (the
paper's λ). Only the discriminator is kept after pre-training.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ptft.data.batch import Batch
from ptft.models.base import Encoder
from ptft.models.text import TextTransformer
from ptft.objectives.mlm import IGNORE, MLMHead, mlm_loss, mlm_mask
from ptft.objectives.registry import OBJECTIVES, Objective

DISCRIMINATOR_WEIGHT = 50.0  # λ of the paper


def replaced_token_loss(logits: torch.Tensor, replaced: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy of (B, T) 'was replaced' logits over the real (not padding) tokens."""
    if logits.shape != replaced.shape or logits.shape != real.shape:
        raise ValueError(f"logits {tuple(logits.shape)}, targets {tuple(replaced.shape)}, mask {tuple(real.shape)}")
    return F.binary_cross_entropy_with_logits(logits[real].float(), replaced[real].float())


@dataclass(frozen=True)
class ElectraOptions:
    mask_ratio: float = 0.15  # share of the real tokens the generator predicts and replaces

    def __post_init__(self) -> None:
        if not 0 < self.mask_ratio < 1:
            raise ValueError(f"mask_ratio must lie in (0, 1), got {self.mask_ratio}")


@OBJECTIVES.register("electra")
class Electra(Objective):
    modalities = ("text",)
    Options = ElectraOptions

    def __init__(
        self, encoder: Encoder, options: ElectraOptions, mask_id: int, special_ids: list[int] | tuple[int, ...],
        pad_id: int = 0, max_length: int = 128,
    ) -> None:  # fmt: skip
        super().__init__()
        embedding = getattr(encoder, "token_embedding", None)
        if not isinstance(embedding, nn.Embedding):
            raise ValueError(f"replaced-token detection needs a token-embedding encoder, not {type(encoder).__name__}")
        self.encoder: Encoder = encoder
        width = max(16, encoder.dim // 2)
        self.generator = TextTransformer(embedding.num_embeddings, pad_id, max_length, width, 1, max(1, width // 64),
                                         "gelu", 0.0)  # fmt: skip
        self.generator_head = MLMHead(width, self.generator.token_embedding)
        self.detector = nn.Sequential(nn.Linear(encoder.dim, encoder.dim), nn.GELU(), nn.Linear(encoder.dim, 1))
        self.mask_id, self.vocab_size, self.mask_ratio = mask_id, embedding.num_embeddings, options.mask_ratio
        self.special: torch.Tensor
        self.register_buffer("special", torch.tensor(sorted(set(special_ids)), dtype=torch.long), persistent=False)

    def forward(self, batch: Batch, y: torch.Tensor | None = None) -> torch.Tensor:
        batch = Batch.of(batch)
        pad_mask = self.encoder.padding(batch.x, batch.pad_mask)
        assert pad_mask is not None
        ids = batch.x[:, : pad_mask.shape[1]]
        maskable = ~pad_mask & ~torch.isin(ids, self.special)
        inputs, labels = mlm_mask(ids, maskable, self.mask_id, self.vocab_size, self.mask_ratio)
        hidden = self.generator(inputs, pad_mask)
        generator_loss = mlm_loss(hidden, labels, self.generator_head)
        chosen = labels != IGNORE
        with torch.no_grad():  # the samples are not differentiated through (as in the paper)
            logits = self.generator_head(hidden[chosen]).float()
            sampled = torch.distributions.Categorical(logits=logits).sample()
        corrupted = ids.clone()
        corrupted[chosen] = sampled
        detected = self.detector(self.encoder(corrupted, pad_mask)).squeeze(-1)
        discriminator_loss = replaced_token_loss(detected, corrupted != ids, ~pad_mask)
        return generator_loss + DISCRIMINATOR_WEIGHT * discriminator_loss

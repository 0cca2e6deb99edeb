"""Heads that turn encoder features (B, T, D) into task outputs, and the encoder+head classifier."""

from __future__ import annotations

import torch
from torch import nn

from ptft.models.base import Encoder, mean_pool


class ClassificationHead(nn.Module):
    """Mean-pool over tokens, LayerNorm, linear layer to `num_classes` logits."""

    def __init__(self, dim: int, num_classes: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc = nn.Linear(dim, num_classes)
        self.num_classes = num_classes

    def forward(self, features: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.fc(self.norm(mean_pool(features, pad_mask)))


class Classifier(nn.Module):
    """Encoder + classification head; `forward` returns logits (B, num_classes)."""

    def __init__(self, encoder: Encoder, head: ClassificationHead) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head
        self.encoder_frozen = False

    def freeze_encoder(self) -> None:
        """Linear probing: no gradients into the encoder, and its batch-norm statistics stay fixed."""
        self.encoder_frozen = True
        self.encoder.requires_grad_(False)
        self.encoder.eval()

    def train(self, mode: bool = True) -> Classifier:
        super().train(mode)
        if self.encoder_frozen:
            self.encoder.eval()
        return self

    def forward(self, x: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.encoder(x, pad_mask), self.encoder.padding(x, pad_mask))

"""Heads that turn encoder features (B, T, D) into task outputs, and the encoder+head classifier."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ptft.data.batch import Batch
from ptft.models.base import Encoder, mean_pool


class ClassificationHead(nn.Module):
    """Mean-pool over tokens, LayerNorm, linear layer to `num_classes` logits.

    `plain` (an encoder whose `plain_head` asks for it): no LayerNorm, and two classes get one logistic
    output z, returned as the logits (0, z) so that softmax gives sigmoid(z) for the second class."""

    def __init__(self, dim: int, num_classes: int, plain: bool = False) -> None:
        super().__init__()
        self.norm: nn.Module = nn.Identity() if plain else nn.LayerNorm(dim)
        self.logistic = plain and num_classes == 2
        self.fc = nn.Linear(dim, 1 if self.logistic else num_classes)
        self.num_classes = num_classes

    def forward(self, features: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        logits = self.fc(self.norm(mean_pool(features, pad_mask)))
        return torch.cat([torch.zeros_like(logits), logits], 1) if self.logistic else logits


class RegressionHead(nn.Module):
    """Mean-pool, LayerNorm, linear layer to one value. It predicts standardised targets; `mean` and `std`
    (of the training targets, saved with the weights) bring predictions back to the data's units."""

    def __init__(self, dim: int, mean: float = 0.0, std: float = 1.0, plain: bool = False) -> None:
        super().__init__()
        self.norm: nn.Module = nn.Identity() if plain else nn.LayerNorm(dim)
        self.fc = nn.Linear(dim, 1)
        self.mean: torch.Tensor
        self.std: torch.Tensor
        self.register_buffer("mean", torch.tensor(float(mean)))
        self.register_buffer("std", torch.tensor(float(std)))

    def forward(self, features: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, D) -> (B, 1) standardised predictions."""
        return self.fc(self.norm(mean_pool(features, pad_mask)))

    def to_units(self, standardised: torch.Tensor) -> torch.Tensor:
        return standardised * self.std + self.mean


def new_head(
    encoder: Encoder, num_classes: int = 0, mean: float = 0.0, std: float = 1.0
) -> tuple[ClassificationHead | RegressionHead, dict[str, Any]]:
    """A new head for `encoder` (`num_classes` 0 = regression on targets of this mean and std) and the bundle's
    entry that rebuilds it (`head_from_entry`)."""
    plain = encoder.plain_head
    extra = {"plain": True} if plain else {}
    if not num_classes:
        return RegressionHead(encoder.dim, mean, std, plain), {"type": "regression", **extra}
    return ClassificationHead(encoder.dim, num_classes, plain), {"type": "classification", "num_classes": num_classes,
                                                                 **extra}  # fmt: skip


def head_from_entry(entry: dict[str, Any], dim: int) -> ClassificationHead | RegressionHead:
    """The head a bundle's `head` entry describes (regression mean and std come with the weights)."""
    plain = bool(entry.get("plain", False))
    if entry.get("type") == "regression":
        return RegressionHead(dim, plain=plain)
    return ClassificationHead(dim, int(entry["num_classes"]), plain)


class Classifier(nn.Module):
    """Encoder + head; `forward` returns logits (B, num_classes), or (B, 1) standardised values for regression."""

    def __init__(self, encoder: Encoder, head: ClassificationHead | RegressionHead) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head
        self.encoder_frozen = False

    def freeze_encoder(self) -> None:
        """Linear probing: no gradients into the encoder, and its batch-norm statistics stay fixed."""
        self.encoder_frozen = True
        self.encoder.requires_grad_(False)
        self.encoder.eval()

    def unfreeze_encoder(self, train_only: list[nn.Module] | None = None) -> None:
        """Undo `freeze_encoder`. With `train_only`, only those parts of the encoder get gradients again; the
        rest keeps its weights and (in eval mode) its batch-norm statistics."""
        if train_only is not None:
            for module in train_only:
                module.requires_grad_(True)
            return
        self.encoder_frozen = False
        self.encoder.requires_grad_(True)
        self.encoder.train(self.training)

    def train(self, mode: bool = True) -> Classifier:
        super().train(mode)
        if self.encoder_frozen:
            self.encoder.eval()
        return self

    def forward(self, batch: Batch | torch.Tensor) -> torch.Tensor:
        return self.head(*self.encoder.encode(batch))

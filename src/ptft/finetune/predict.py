"""Batched prediction with a classifier (used for validation, pseudo-labels and reports)."""

from __future__ import annotations

from typing import cast

import torch
from torch import nn

from ptft.models.base import Encoder


def token_counts(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Non-padding tokens per row of (N, T) token ids, from the model's encoder."""
    encoder = cast(Encoder, getattr(model, "encoder", model))
    mask = encoder.padding(x)
    return (~mask).sum(1) if isinstance(mask, torch.Tensor) else torch.full((len(x),), x.shape[1])


@torch.no_grad()
def predict_proba(model: nn.Module, x: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Class probabilities (N, K) in eval mode, on the model's device; returns CPU float32.

    Token-id inputs are visited shortest first, so each batch carries little padding."""
    if len(x) == 0:
        return torch.empty(0)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    order = torch.arange(len(x)) if x.is_floating_point() else torch.argsort(token_counts(model, x), stable=True)
    out = [
        torch.softmax(model(x[order[i : i + batch_size]].to(device)).float(), dim=1).cpu()
        for i in range(0, len(x), batch_size)
    ]
    model.train(was_training)
    proba = torch.cat(out)
    return proba[torch.argsort(order)]


def accuracy_of(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return float((predict_proba(model, x).argmax(1) == y).float().mean())

"""Batched prediction with a classifier (used for validation, pseudo-labels and reports)."""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def predict_proba(model: nn.Module, x: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Class probabilities (N, K) in eval mode, on the model's device; returns CPU float32."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = [
        torch.softmax(model(x[i : i + batch_size].to(device)).float(), dim=1).cpu()
        for i in range(0, len(x), batch_size)
    ]
    model.train(was_training)
    return torch.cat(out) if out else torch.empty(0)


def accuracy_of(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return float((predict_proba(model, x).argmax(1) == y).float().mean())

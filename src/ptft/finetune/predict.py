"""Batched prediction with a classifier (used for validation, pseudo-labels and reports)."""

from __future__ import annotations

from typing import cast

import numpy as np
import torch
from torch import nn

from ptft.data.batch import Batch
from ptft.models.heads import RegressionHead


@torch.no_grad()
def _batched_outputs(model: nn.Module, x: Batch, batch_size: int) -> torch.Tensor:
    """The model's float outputs for every example of x, in order, in eval mode; padded examples are
    visited shortest first, so each batch carries little padding."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    lengths = x.lengths
    order = torch.arange(len(x)) if lengths is None else torch.argsort(lengths, stable=True)
    out = [
        model(x.rows(order[i : i + batch_size]).to(device)).float().cpu() for i in range(0, len(x), batch_size)
    ]
    model.train(was_training)
    return torch.cat(out)[torch.argsort(order)]


def predict_values(model: nn.Module, x: Batch | torch.Tensor, batch_size: int = 512) -> np.ndarray:
    """Regression predictions (N,) in the targets' units."""
    if len(x) == 0:
        return np.zeros(0)
    head = cast(RegressionHead, model.head)
    return head.to_units(_batched_outputs(model, Batch.of(x), batch_size)).squeeze(1).numpy()


@torch.no_grad()
def predict_proba(model: nn.Module, x: Batch | torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Class probabilities (N, K) in eval mode, on the model's device; returns CPU float32."""
    if len(x) == 0:
        return torch.empty(0)
    return torch.softmax(_batched_outputs(model, Batch.of(x), batch_size), dim=1)


def accuracy_of(model: nn.Module, x: Batch | torch.Tensor, y: torch.Tensor) -> float:
    return float((predict_proba(model, x).argmax(1) == y).float().mean())

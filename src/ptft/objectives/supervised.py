"""Supervised fine-tuning objectives: cross-entropy on labelled examples (with the modality's light
augmentation, where it has one), and mean squared error for regression."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ptft.data.batch import Batch
from ptft.models.heads import Classifier, RegressionHead
from ptft.objectives.registry import Objective

Augment = Callable[[Batch], Batch]  # a random view of every example in a batch


def classification_loss(logits: torch.Tensor, labels: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    """Mean cross-entropy of (B, K) logits against (B,) class indices."""
    return F.cross_entropy(logits.float(), labels, label_smoothing=label_smoothing)


class SupervisedClassification(Objective):
    """Wraps a Classifier; not in the pre-training registry (it needs labels). `augment`: applied to each
    training batch (None: the examples as they are)."""

    def __init__(self, classifier: Classifier, augment: Augment | None = None, label_smoothing: float = 0.1) -> None:
        super().__init__()
        self.classifier = classifier
        self.augment = augment
        self.label_smoothing = label_smoothing

    @property
    def encoder(self) -> nn.Module:  # type: ignore[override]
        return self.classifier.encoder  # registered once, under classifier

    def forward(self, batch: Batch, y: torch.Tensor | None = None) -> torch.Tensor:
        if y is None:
            raise ValueError("supervised classification needs labels")
        batch = Batch.of(batch)
        if self.augment is not None and self.training:
            batch = self.augment(batch)
        return classification_loss(self.classifier(batch), y, self.label_smoothing)


class SupervisedRegression(Objective):
    """Mean squared error of a regression head's standardised output against standardised targets."""

    def __init__(self, model: Classifier) -> None:
        super().__init__()
        self.classifier = model

    @property
    def encoder(self) -> nn.Module:  # type: ignore[override]
        return self.classifier.encoder

    def forward(self, batch: Batch, y: torch.Tensor | None = None) -> torch.Tensor:
        if y is None:
            raise ValueError("regression needs targets")
        head = self.classifier.head
        assert isinstance(head, RegressionHead)
        return F.mse_loss(self.classifier(batch).float().squeeze(1), (y.float() - head.mean) / head.std)

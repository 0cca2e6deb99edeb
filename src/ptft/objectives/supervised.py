"""Supervised fine-tuning objective: cross-entropy on labelled images, with light augmentation."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ptft.models.heads import Classifier, RegressionHead
from ptft.objectives.augment import FINETUNE_LIGHT, augment
from ptft.objectives.registry import Objective


def classification_loss(logits: torch.Tensor, labels: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    """Mean cross-entropy of (B, K) logits against (B,) class indices."""
    return F.cross_entropy(logits.float(), labels, label_smoothing=label_smoothing)


class SupervisedClassification(Objective):
    """Wraps a Classifier; not in the pre-training registry (it needs labels)."""

    def __init__(self, classifier: Classifier, augment_inputs: bool = True, label_smoothing: float = 0.1) -> None:
        super().__init__()
        self.classifier = classifier
        self.augment_inputs = augment_inputs
        self.label_smoothing = label_smoothing

    @property
    def encoder(self) -> nn.Module:  # type: ignore[override]
        return self.classifier.encoder  # registered once, under classifier

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if y is None:
            raise ValueError("supervised classification needs labels")
        if self.augment_inputs and self.training:
            x = augment(x, FINETUNE_LIGHT)
        return classification_loss(self.classifier(x), y, self.label_smoothing)


class SupervisedRegression(Objective):
    """Mean squared error of a regression head's standardised output against standardised targets."""

    def __init__(self, model: Classifier) -> None:
        super().__init__()
        self.classifier = model

    @property
    def encoder(self) -> nn.Module:  # type: ignore[override]
        return self.classifier.encoder

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if y is None:
            raise ValueError("regression needs targets")
        head = self.classifier.head
        assert isinstance(head, RegressionHead)
        return F.mse_loss(self.classifier(x).float().squeeze(1), (y.float() - head.mean) / head.std)

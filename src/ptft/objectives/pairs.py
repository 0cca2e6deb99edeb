"""Contrastive fine-tuning on pairs of labelled examples, the first step of SetFit (Tunstall et al. 2022,
"Efficient Few-Shot Learning Without Prompts"): the cosine similarity of two examples' pooled embeddings is
regressed onto 1 when they share a label and onto 0 when they do not. Every pair within a batch counts, the
same-label and the different-label pairs weighted half each (SetFit draws them in equal numbers), so the
embedding gathers each class however many classes there are. The head is trained afterwards, on the
embedding this shaped (`finetune/strategies.py`, strategy `setfit`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ptft.data.batch import Batch
from ptft.models.base import mean_pool, pooled_embeddings
from ptft.models.heads import Classifier
from ptft.objectives.registry import Objective
from ptft.objectives.supervised import Augment


def pair_cosine_loss(embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean squared error of the pairwise cosine similarities of (B, D) embeddings against 1 (same label) or
    0 (different), over the pairs i < j; the two kinds of pair weigh half each (a kind with no pair in the
    batch leaves the other the whole weight)."""
    if embeddings.shape[0] != labels.shape[0]:
        raise ValueError(f"{embeddings.shape[0]} embeddings but {labels.shape[0]} labels")
    unit = F.normalize(embeddings.float(), dim=1)
    similarity = unit @ unit.T
    same = labels[:, None] == labels[None, :]
    upper = torch.triu(torch.ones_like(same), diagonal=1)
    losses = []
    for kind in (same & upper, ~same & upper):
        if kind.any():
            losses.append(((similarity[kind] - same[kind].float()) ** 2).mean())
    if not losses:  # a batch of one example has no pair
        return embeddings.sum() * 0.0
    return torch.stack(losses).mean()


class PairContrast(Objective):
    """Wraps a Classifier and trains its encoder with `pair_cosine_loss` (the head is not used)."""

    def __init__(self, classifier: Classifier, augment: Augment | None = None) -> None:
        super().__init__()
        self.classifier = classifier
        self.augment = augment

    @property
    def encoder(self) -> nn.Module:  # type: ignore[override]
        return self.classifier.encoder

    def forward(self, batch: Batch, y: torch.Tensor | None = None) -> torch.Tensor:
        if y is None:
            raise ValueError("pair contrast needs labels")
        batch = Batch.of(batch)
        if self.augment is not None and self.training:
            batch = self.augment(batch)
        return pair_cosine_loss(mean_pool(*self.classifier.encoder.encode(batch)), y)


@torch.no_grad()
def centroid_accuracy(
    classifier: Classifier, x_train: Batch, y_train: torch.Tensor, x: Batch, y: torch.Tensor
) -> float:
    """Accuracy of the nearest class centroid (cosine) of the training embeddings: how well the encoder alone
    separates the classes, before any head is trained on it."""
    was_training = classifier.training
    classifier.eval()
    train = F.normalize(pooled_embeddings(classifier.encoder, x_train), dim=1)
    points = F.normalize(pooled_embeddings(classifier.encoder, x), dim=1)
    classes = int(y_train.max()) + 1
    centroids = torch.zeros(classes, train.shape[1]).index_add_(0, y_train, train)
    predicted = (points @ F.normalize(centroids, dim=1).T).argmax(1)
    classifier.train(was_training)
    return float((predicted == y).float().mean())

"""Pool consistency while fine-tuning (FixMatch: Sohn et al. 2020, "FixMatch: Simplifying
Semi-Supervised Learning with Consistency and Confidence").

Each step adds `ratio` x B images from the unlabeled pool: the model's prediction on a lightly
augmented view becomes the target (only where its confidence reaches `threshold`) for a strongly
augmented view of the same image. The labelled part is the ordinary supervised loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ptft.data.batch import Batch
from ptft.errors import ConfigError
from ptft.models.heads import Classifier
from ptft.objectives.supervised import Augment, SupervisedClassification


def confident_consistency(
    weak_logits: torch.Tensor, strong_logits: torch.Tensor, threshold: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy of strong-view logits against the weak view's argmax where its softmax
    confidence >= threshold, averaged over all pool images (masked ones count as 0).
    Returns (loss, fraction of pool images above the threshold)."""
    probs = torch.softmax(weak_logits.detach().float(), dim=1)
    confidence, target = probs.max(dim=1)
    mask = (confidence >= threshold).float()
    per_image = F.cross_entropy(strong_logits.float(), target, reduction="none")
    return (per_image * mask).mean(), mask.mean()


class PoolConsistency(SupervisedClassification):
    """`views`: (weak, strong) augmentations of the modality; the weak one also augments the labelled part."""

    def __init__(
        self,
        classifier: Classifier,
        pool: Batch | torch.Tensor,
        views: tuple[Augment, Augment],
        ratio: int = 3,
        threshold: float = 0.95,
        weight: float = 1.0,
        augment_labelled: bool = True,
    ) -> None:
        super().__init__(classifier, views[0] if augment_labelled else None)
        if len(pool) == 0:
            raise ConfigError(
                "strategy 'fixmatch' needs unlabeled examples, but every example is in the label budget; "
                "give data with unlabeled examples or a smaller --labels-per-class"
            )
        self.pool, self.views = Batch.of(pool), views
        self.ratio, self.threshold, self.weight = ratio, threshold, weight

    def forward(self, batch: Batch, y: torch.Tensor | None = None) -> torch.Tensor:
        supervised = super().forward(batch, y)
        if not self.training:
            return supervised
        index = torch.randint(len(self.pool), (self.ratio * len(batch),))  # global RNG: saved for resume
        u = self.pool.rows(index).to(supervised.device)
        weak_view, strong_view = self.views
        with torch.no_grad():
            weak = self.classifier(weak_view(u))
        strong = self.classifier(strong_view(u))
        unsupervised, _ = confident_consistency(weak, strong, self.threshold)
        return supervised + self.weight * unsupervised

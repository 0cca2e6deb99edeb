"""Self-training: pseudo-label the unlabeled pool with the fine-tuned model and train again.

As in SimCLRv2 (Chen et al. 2020, "Big Self-Supervised Models are Strong Semi-Supervised
Learners"), the unlabeled data is used a second time: confident predictions on the pool become
training labels for a student started again from the pre-trained weights.
"""

from __future__ import annotations

import torch

from ptft.data.batch import Batch
from ptft.finetune.predict import predict_proba
from ptft.models.heads import Classifier


def pseudo_label(
    model: Classifier, pool: Batch, threshold: float, max_per_class: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """-> (indices into pool, pseudo-labels): confidence >= threshold, at most max_per_class each,
    most confident first, so that no class swamps the others."""
    if len(pool) == 0:
        return torch.empty(0, dtype=torch.long), torch.empty(0, dtype=torch.long)
    proba = predict_proba(model, pool)
    confidence, label = proba.max(dim=1)
    keep: list[torch.Tensor] = []
    for k in range(proba.shape[1]):
        idx = torch.nonzero((label == k) & (confidence >= threshold)).flatten()
        order = confidence[idx].argsort(descending=True)
        keep.append(idx[order[:max_per_class]])
    chosen = torch.cat(keep).sort().values
    return chosen, label[chosen]

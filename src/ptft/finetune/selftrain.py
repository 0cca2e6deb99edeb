"""Pseudo-labels for the unlabeled pool, from two sources:

- self-training: the fine-tuned model's confident predictions become training labels for a student started
  again from the pre-trained weights (SimCLRv2: Chen et al. 2020, "Big Self-Supervised Models are Strong
  Semi-Supervised Learners");
- label propagation: the labels spread over a k-nearest-neighbour graph of the *pre-trained* embedding of
  the labelled examples and the pool (Zhou et al. 2004, "Learning with Local and Global Consistency", as
  scikit-learn's LabelSpreading; used for deep semi-supervised learning by Iscen et al. 2019), before any
  fine-tuning; the model then trains on the labels and the confident propagated ones.
"""

from __future__ import annotations

import torch

from ptft.data.batch import Batch
from ptft.finetune.predict import predict_proba
from ptft.models.base import pooled_embeddings
from ptft.models.heads import Classifier

NEIGHBOURS = 10  # of the propagation graph


def pseudo_label(
    model: Classifier, pool: Batch, threshold: float, max_per_class: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """-> (indices into pool, pseudo-labels): confidence >= threshold, at most max_per_class each,
    most confident first, so that no class swamps the others."""
    if len(pool) == 0:
        return torch.empty(0, dtype=torch.long), torch.empty(0, dtype=torch.long)
    return confident(predict_proba(model, pool), threshold, max_per_class)


def confident(proba: torch.Tensor, threshold: float, max_per_class: int) -> tuple[torch.Tensor, torch.Tensor]:
    """-> (rows, labels) of the (N, K) class probabilities at or above `threshold`, at most `max_per_class`
    each, most confident first."""
    confidence, label = proba.max(dim=1)
    keep: list[torch.Tensor] = []
    for k in range(proba.shape[1]):
        idx = torch.nonzero((label == k) & (confidence >= threshold)).flatten()
        order = confidence[idx].argsort(descending=True)
        keep.append(idx[order[:max_per_class]])
    chosen = torch.cat(keep).sort().values
    return chosen, label[chosen]


def propagated_labels(
    model: Classifier, x: Batch, y: torch.Tensor, pool: Batch, threshold: float, max_per_class: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """-> (indices into pool, pseudo-labels): the labels (x, y) spread over the k-NN graph of the encoder's
    L2-normalised pooled embedding of x and the pool; kept where the spread label's weight reaches
    `threshold`, at most max_per_class each, most confident first."""
    from sklearn.semi_supervised import LabelSpreading

    if len(pool) == 0:
        return torch.empty(0, dtype=torch.long), torch.empty(0, dtype=torch.long)
    was_training = model.training
    model.eval()
    both = torch.cat([pooled_embeddings(model.encoder, x), pooled_embeddings(model.encoder, pool)])
    points = torch.nn.functional.normalize(both, dim=1)
    model.train(was_training)
    targets = torch.cat([y, torch.full((len(pool),), -1, dtype=y.dtype)]).numpy()
    spread = LabelSpreading(kernel="knn", n_neighbors=min(NEIGHBOURS, len(points) - 1), alpha=0.9, max_iter=50)
    spread.fit(points.numpy(), targets)
    proba = torch.as_tensor(spread.label_distributions_[len(x):], dtype=torch.float32)
    return confident(proba.nan_to_num(0.0), threshold, max_per_class)

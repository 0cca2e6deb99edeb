"""A k-NN probe logged while pre-training (`ptft pretrain --probe SPEC`): how well the encoder's pooled,
L2-normalised embedding separates classes it never saw labels of, so that objectives and recipes can be
compared by what they learn per CPU-minute. Half of a labelled sample is the memory, the other half is
classified by its k nearest neighbours (cosine), as in the k-NN evaluation of Wu et al. 2018 and DINO
(Caron et al. 2021). It is watched, never used: it does not stop the run or pick a checkpoint."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ptft.data.batch import Batch
from ptft.data.types import Examples
from ptft.errors import DataError
from ptft.models.base import Encoder, pooled_embeddings

NEIGHBOURS = 20


def knn_accuracy(memory: torch.Tensor, memory_labels: torch.Tensor, queries: torch.Tensor, labels: torch.Tensor,
                 k: int = NEIGHBOURS) -> float:  # fmt: skip
    """Accuracy of the majority label among each query's k most cosine-similar memory rows (ties: the
    smallest label)."""
    similarity = F.normalize(queries.float(), dim=1) @ F.normalize(memory.float(), dim=1).T
    nearest = similarity.topk(min(k, len(memory)), dim=1).indices
    votes = F.one_hot(memory_labels[nearest], int(memory_labels.max()) + 1).sum(1)
    return float((votes.argmax(1) == labels).float().mean())


def probe_split(examples: Examples, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(memory, query) indices: `size` labelled examples drawn with `seed`, cut in two halves."""
    assert examples.labels is not None
    labelled = np.flatnonzero(np.asarray(examples.labels) >= 0)
    if len(labelled) < 4:
        raise DataError(f"--probe {examples.source}: needs at least 4 labelled examples, has {len(labelled)}")
    chosen = np.random.default_rng(seed).permutation(labelled)[:size]
    half = len(chosen) // 2
    return np.sort(chosen[:half]), np.sort(chosen[half:])


def knn_probe(encoder: Encoder, x: Batch, labels: torch.Tensor, half: int) -> Callable[[], dict[str, float]]:
    """The loop's evaluation hook: rows [:half] of `x` are the memory, the rest the queries."""

    def evaluate() -> dict[str, float]:
        z = pooled_embeddings(encoder, x)
        return {"knn_accuracy": knn_accuracy(z[:half], labels[:half], z[half:], labels[half:])}

    return evaluate

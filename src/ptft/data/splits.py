"""Seeded splits: a stratified label budget (K per class), a validation set, the unlabeled rest."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ptft.errors import DataError


@dataclass(frozen=True)
class Split:
    train: np.ndarray  # indices with labels used for training
    val: np.ndarray  # indices with labels used for validation / early stopping
    pool: np.ndarray  # the rest: their labels are never used (the unlabeled pool)


def label_budget(labels: np.ndarray, per_class: int, val_per_class: int, seed: int, source: str = "data") -> Split:
    """Take `per_class` training and `val_per_class` validation examples of every class at random.

    per_class = 0 means every labelled example not in validation is used for training.
    """
    rng = np.random.default_rng(seed)
    train, val, pool = [], [], [np.flatnonzero(labels < 0)]
    classes = np.unique(labels[labels >= 0])
    if len(classes) < 2:
        raise DataError(f"{source}: fine-tuning needs at least 2 classes, found {len(classes)}")
    for k in classes:
        members = rng.permutation(np.flatnonzero(labels == k))
        need = (per_class or 1) + val_per_class
        if len(members) < need:
            raise DataError(
                f"{source}: class {k} has {len(members)} labelled examples, fewer than the "
                f"{per_class or 1} + {val_per_class} needed for training + validation; lower "
                "--labels-per-class or --val-per-class"
            )
        val.append(members[:val_per_class])
        chosen = members[val_per_class : val_per_class + per_class] if per_class else members[val_per_class:]
        train.append(chosen)
        pool.append(members[val_per_class + len(chosen) :])
    return Split(np.sort(np.concatenate(train)), np.sort(np.concatenate(val)), np.sort(np.concatenate(pool)))

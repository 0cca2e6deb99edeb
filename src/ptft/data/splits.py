"""Seeded splits: a stratified label budget (K per class), a validation set, the unlabeled rest."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from ptft.errors import DataError
from ptft.notes import note


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
    short: list[str] = []
    for k in classes:
        members = rng.permutation(np.flatnonzero(labels == k))
        n_val, n_train = val_per_class, per_class
        if per_class and len(members) < per_class + val_per_class:
            # A rare class gives what it has, split in the same proportion as the budget.
            if len(members) < 2:
                raise DataError(
                    f"{source}: class {k} has {len(members)} labelled example(s); it needs at least 2 "
                    "(one to train on, one to validate)"
                )
            n_val = max(1, round(len(members) * val_per_class / (per_class + val_per_class))) if val_per_class else 0
            n_train = len(members) - n_val
            short.append(f"class {k}: {n_train} + {n_val}")
        elif not per_class and len(members) < 1 + val_per_class:
            raise DataError(
                f"{source}: class {k} has {len(members)} labelled examples, fewer than the 1 + {val_per_class} "
                "needed for training + validation; lower --val-per-class"
            )
        val.append(members[:n_val])
        chosen = members[n_val : n_val + n_train] if per_class else members[n_val:]
        train.append(chosen)
        pool.append(members[n_val + len(chosen) :])
    if short:
        note(
            f"{source}: {len(short)} class(es) have fewer than {per_class} + {val_per_class} labelled examples "
            f"and use all they have (train + validation): {'; '.join(short)}"
        )
    return Split(np.sort(np.concatenate(train)), np.sort(np.concatenate(val)), np.sort(np.concatenate(pool)))


def random_budget(labelled: np.ndarray, n_train: int, n_val: int, seed: int, source: str = "data") -> Split:
    """For regression (no classes to stratify by): `n_train` training and `n_val` validation examples drawn
    at random from the `labelled` mask; n_train = 0 means every labelled example not in validation.
    The unlabelled rows and the labelled rest form the pool."""
    members = np.random.default_rng(seed).permutation(np.flatnonzero(labelled))
    if len(members) < (n_train or 1) + n_val:
        raise DataError(
            f"{source}: {len(members)} labelled examples, fewer than the {n_train or 1} + {n_val} needed for "
            "training + validation; lower --labels-per-class or --val-per-class"
        )
    chosen = members[n_val : n_val + n_train] if n_train else members[n_val:]
    pool = np.concatenate([np.flatnonzero(~labelled), members[n_val + len(chosen) :]])
    return Split(np.sort(chosen), np.sort(members[:n_val]), np.sort(pool))


def ids_fingerprint(ids: list[str]) -> str:
    """sha256 of a set of example ids (order-free): equal for two runs that used the same labelled examples."""
    return hashlib.sha256("\0".join(sorted(ids)).encode("utf-8", "surrogatepass")).hexdigest()


def fold_split(
    labels: np.ndarray, chosen: np.ndarray, folds: int, fold: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(training, validation) indices among `chosen`: fold `fold` of `folds` stratified, seeded folds validates
    and the others train; `fold` = -1: every chosen example trains and none validates."""
    if fold == -1:
        return np.sort(chosen), np.zeros(0, dtype=np.int64)
    from sklearn.model_selection import StratifiedKFold

    counts = np.bincount(labels[chosen])
    if counts[counts > 0].min() < folds:
        raise DataError(
            f"{folds}-fold selection needs at least {folds} labelled examples of every class; use fewer folds"
        )
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    train, val = list(splitter.split(chosen, labels[chosen]))[fold]
    return np.sort(chosen[train]), np.sort(chosen[val])

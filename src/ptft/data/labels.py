"""Labels as a model needs them: class indices matched by name to the classes a model was trained on, and
regression targets read from the label column's values."""

from __future__ import annotations

import difflib

import numpy as np

from ptft.data.types import Examples
from ptft.errors import DataError


def map_labels(data: Examples, label_names: list[str]) -> np.ndarray:
    """The data's labels as indices into the model's `label_names`, matched by name."""
    if data.labels is None or (data.labels < 0).all():
        raise DataError(f"{data.source}: has no labels to evaluate against")
    index = {name: i for i, name in enumerate(label_names)}
    lookup = np.full(max(len(data.label_names), 1), -1, dtype=np.int64)
    for k, name in enumerate(data.label_names):
        if name not in index:
            close = difflib.get_close_matches(name, label_names, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            with_it = np.flatnonzero(data.labels == k)
            first = f"; {len(with_it)} example(s) have it, first {data.ids[int(with_it[0])]}" if len(with_it) else ""
            raise DataError(
                f"{data.source}: label '{name}' is not among the {len(label_names)} labels the model was "
                f"trained on{hint}: {', '.join(label_names)}{first}; relabel those examples or leave them out"
            )
        lookup[k] = index[name]
    labelled = data.labels >= 0
    if not labelled.all():
        first = data.ids[int(np.flatnonzero(~labelled)[0])]
        raise DataError(
            f"{data.source}: {int((~labelled).sum())} examples have no label (first: {first}); evaluate needs labels"
        )
    return lookup[data.labels]


def numeric_targets(data: Examples) -> np.ndarray:
    """Regression targets (float32, NaN where unlabelled) from the label column's values."""
    assert data.labels is not None
    values = np.full(len(data.label_names) + 1, np.nan, dtype=np.float32)  # index -1 (unlabelled) -> NaN
    for k, name in enumerate(data.label_names):
        try:
            values[k] = float(name)
        except ValueError:
            first = data.ids[int(np.flatnonzero(data.labels == k)[0])]
            raise DataError(
                f"{first}: label {name!r} is not a number; regression needs numeric labels "
                "(or use --task classification)"
            ) from None
        if not np.isfinite(values[k]):
            first = data.ids[int(np.flatnonzero(data.labels == k)[0])]
            raise DataError(f"{first}: label {name!r} is not a finite number; regression needs finite targets")
    return values[data.labels]

"""`TableNormalizer`: the fitted table preprocessing saved with every table bundle.

Fitted once, on the pre-training rows, and stored as plain JSON:
- numeric columns: missing cells imputed with the median, a missing indicator for each column that had missing
  cells at fit, and a quantile transform to a standard normal (up to QUANTILES reference quantiles, ties
  averaged as scikit-learn's QuantileTransformer does). Quantiles rather than clipping and standardising:
  the transform is monotone, bounded (within about +-5.2) and indifferent to skew and outliers, so a
  column of incomes and a column of counts arrive at one scale without a choice per column; it is the input
  transform Gorishniy et al. (2021) use for MLPs and the FT-Transformer. The median maps to about 0, so an
  imputed (or hidden) cell sits at the centre.
- categorical and boolean columns: a vocabulary of the values seen at least `min_frequency` times, most
  frequent first; id 0 is missing, 1 unknown (rarer or unseen values, counted in `last_report`).
- constant columns (one value, or none) carry nothing and are left out, said once.
At fine-tuning and prediction, a column the normaliser uses that the data lacks is an error listing every
such name; columns it does not use are ignored, said once.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import torch
from scipy.special import ndtri

from ptft.data.batch import Batch
from ptft.data.table import TableSet, as_number
from ptft.errors import DataError
from ptft.notes import note

QUANTILES = 256  # reference quantiles per numeric column
BOUND = 1e-7  # the quantiles' range is clipped to [BOUND, 1 - BOUND] before the normal's inverse
MISSING_ID, UNKNOWN_ID = 0, 1  # categorical ids below the vocabulary's


def quantile_normal(x: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    """Values -> standard-normal scores through their reference quantiles (ties averaged both ways)."""
    refs = np.linspace(0.0, 1.0, len(quantiles))
    up = np.interp(x, quantiles, refs)
    down = -np.interp(-x, -quantiles[::-1], -refs[::-1])
    return ndtri(np.clip(0.5 * (up + down), BOUND, 1 - BOUND))


def numbers(table: TableSet, name: str) -> np.ndarray:
    """A numeric column as float64 (NaN = missing); a value that is not a number names its row."""
    out = np.empty(len(table), dtype=np.float64)
    for i, value in enumerate(table.columns[name]):
        number = as_number(value)
        if number is None:
            raise DataError(
                f"{table.where[i]}: column '{name}' holds {value!r}, but it held numbers when the model was "
                "fitted; fix the value or leave the cell empty (missing)"
            )
        out[i] = number
    return out


class TableNormalizer:
    """sklearn-style: `fit` learns `numeric_` (name, median, quantiles, has a missing indicator),
    `categorical_` (name, kind, vocabulary) and `dropped_`, and returns self."""

    kind = "table"

    def __init__(self, min_frequency: int = 2) -> None:
        self.min_frequency = min_frequency
        self.last_report: dict[str, Any] = {}

    def fit(self, table: TableSet) -> TableNormalizer:
        if not isinstance(table, TableSet) or not len(table):
            raise DataError("TableNormalizer.fit needs a table with rows")
        self.numeric_: list[dict[str, Any]] = []
        self.categorical_: list[dict[str, Any]] = []
        self.dropped_: list[str] = []
        for name, values in table.columns.items():
            kind = table.kinds.get(name, "categorical")
            entry = self._fit_numeric(table, name) if kind == "numeric" else self._fit_categorical(name, values, kind)
            if entry is None:
                self.dropped_.append(name)
            else:
                (self.numeric_ if kind == "numeric" else self.categorical_).append(entry)
        if self.dropped_:
            note(f"{table.source}: left out constant column(s) {', '.join(self.dropped_)} (one value or none)")
        if not self.numeric_ and not self.categorical_:
            raise DataError(f"{table.source}: every feature column is constant; a model needs varying columns")
        return self

    def _fit_numeric(self, table: TableSet, name: str) -> dict[str, Any] | None:
        x = numbers(table, name)
        present = x[~np.isnan(x)]
        if len(present) == 0 or (present.min() == present.max() and len(present) == len(x)):
            return None
        quantiles = np.quantile(present, np.linspace(0, 1, min(QUANTILES, len(present))))
        return {"name": name, "median": float(np.median(present)), "quantiles": quantiles.tolist(),
                "missing": bool(len(present) < len(x))}  # fmt: skip

    def _fit_categorical(self, name: str, values: np.ndarray, kind: str) -> dict[str, Any] | None:
        counts = Counter(v for v in values if v is not None)
        has_missing = any(v is None for v in values)
        if len(counts) + has_missing <= 1:
            return None
        vocab = [v for v, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if n >= self.min_frequency]
        return {"name": name, "kind": kind, "vocab": vocab}

    def _check_fitted(self) -> None:
        if not hasattr(self, "numeric_"):
            raise RuntimeError("TableNormalizer is not fitted: call fit() or load a bundle first")

    @property
    def columns(self) -> list[str]:
        """The columns it reads, numeric first."""
        self._check_fitted()
        return [c["name"] for c in self.numeric_] + [c["name"] for c in self.categorical_]

    @property
    def cardinalities(self) -> list[int]:
        """Ids per categorical column (missing and unknown included)."""
        return [len(c["vocab"]) + 2 for c in self.categorical_]

    @property
    def missing_flags(self) -> list[int]:
        """The numeric columns (by position) that had missing cells at fit, and so a missing indicator."""
        return [i for i, c in enumerate(self.numeric_) if c["missing"]]

    def _check_columns(self, table: TableSet) -> None:
        absent = [c for c in self.columns if c not in table.columns]
        if absent:
            raise DataError(
                f"{table.source}: lacks column(s) {', '.join(absent)} that the model reads; it has "
                f"{', '.join(table.columns) or 'no feature columns'}"
            )
        extra = [c for c in table.columns if c not in self.columns and c not in self.dropped_]
        if extra:
            note(f"{table.source}: ignoring column(s) the model was not fitted on: {', '.join(extra)}")

    def batch(self, table: TableSet, cleaned: bool = False) -> Batch:
        """`numeric` (B, n) standard scores, `missing` (B, n) 1 where imputed, `categorical` (B, m) ids."""
        self._check_fitted()
        self._check_columns(table)
        n = len(table)
        numeric = np.zeros((n, len(self.numeric_)), dtype=np.float32)
        missing = np.zeros((n, len(self.numeric_)), dtype=np.float32)
        for j, column in enumerate(self.numeric_):
            x = numbers(table, column["name"])
            gaps = np.isnan(x)
            x[gaps] = column["median"]
            numeric[:, j] = quantile_normal(x, np.asarray(column["quantiles"]))
            missing[:, j] = gaps
        categorical = np.zeros((n, len(self.categorical_)), dtype=np.int64)
        unseen: dict[str, int] = {}
        for j, column in enumerate(self.categorical_):
            ids = {v: k + 2 for k, v in enumerate(column["vocab"])}
            values = table.columns[column["name"]]
            categorical[:, j] = [MISSING_ID if v is None else ids.get(v, UNKNOWN_ID) for v in values]
            count = sum(1 for v in values if v is not None and v not in ids)
            if count:
                unseen[column["name"]] = count
        self.last_report = {"unknown_categories": unseen} if unseen else {}
        tensors = {"numeric": torch.from_numpy(numeric), "missing": torch.from_numpy(missing),
                   "categorical": torch.from_numpy(categorical)}  # fmt: skip
        return Batch(tensors)

    def state_dict(self) -> dict[str, Any]:
        self._check_fitted()
        return {"kind": self.kind, "min_frequency": self.min_frequency, "numeric": self.numeric_,
                "categorical": self.categorical_, "dropped": self.dropped_}  # fmt: skip

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TableNormalizer:
        normalizer = cls(int(state.get("min_frequency", 2)))
        normalizer.numeric_ = [dict(c) for c in state["numeric"]]
        normalizer.categorical_ = [dict(c) for c in state["categorical"]]
        normalizer.dropped_ = list(state.get("dropped", []))
        return normalizer

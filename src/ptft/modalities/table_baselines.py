"""What a tabular user would fit instead of a network, on the same labelled rows: logistic regression, LightGBM
and k-nearest neighbours. Each fits its column handling on the training rows alone.

- `logreg`: numeric columns imputed with the median plus missing indicators and standardised, categories
  one-hot (unseen ones all zero); L2 logistic regression, C = 1.
- `knn`: the same features; 5 neighbours weighted by inverse distance (fewer when there are fewer rows).
- `lightgbm`: numbers as they are (missing is NaN, which LightGBM routes itself) and categories as pandas
  categoricals. LightGBM's defaults are made for thousands of rows: `min_child_samples` 20 and
  `min_data_in_bin` 3 leave no split at 5 labels per class (FeSTa, KDD 2025, measured LightGBM with defaults
  at 50.7 % mean accuracy against 61.7 % for logistic regression at 5 labels per class). Here a leaf may
  hold 2 rows and a bin 1 row, trees have at most 15 leaves, 300 rounds at a 0.05 learning rate, with row
  and column subsampling (0.8) and L2 = 1 so that the small trees do not memorise the few rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from ptft.data.table import TableSet, as_number
from ptft.data.types import Examples
from ptft.errors import ConfigError
from ptft.modalities.base import Baseline

LIGHTGBM: dict[str, Any] = {
    "n_estimators": 300, "learning_rate": 0.05, "num_leaves": 15, "min_child_samples": 2, "min_data_in_bin": 1,
    "subsample": 0.8, "subsample_freq": 1, "colsample_bytree": 0.8, "reg_lambda": 1.0, "verbose": -1,
}  # fmt: skip
NEIGHBOURS = 5


def _columns(train: Examples, test: Examples) -> tuple[TableSet, TableSet, list[str], list[str]]:
    assert isinstance(train, TableSet) and isinstance(test, TableSet), "table baselines read tables"
    missing = [c for c in train.columns if c not in test.columns]
    if missing:
        raise ConfigError(f"{test.source}: lacks column(s) {', '.join(missing)} of {train.source}")
    numeric = [c for c in train.columns if train.kinds.get(c) == "numeric"]
    categorical = [c for c in train.columns if c not in numeric]
    return train, test, numeric, categorical


def _matrix(table: TableSet, numeric: list[str], categorical: list[str]) -> np.ndarray:
    """Numbers as floats (NaN missing), categories as strings ('' missing), one object matrix."""
    out = np.empty((len(table), len(numeric) + len(categorical)), dtype=object)
    for j, name in enumerate(numeric):
        values = [as_number(v) for v in table.columns[name]]
        out[:, j] = [np.nan if v is None else v for v in values]
    for j, name in enumerate(categorical, len(numeric)):
        out[:, j] = ["" if v is None else v for v in table.columns[name]]
    return out


def encoded_features(train: Examples, test: Examples, context: dict[str, Any]) -> tuple[Any, Any]:
    """Imputed + indicator + standardised numbers and one-hot categories, fitted on the training rows."""
    train, test, numeric, categorical = _columns(train, test)
    n = len(numeric)
    steps = []
    if numeric:
        steps.append(("numeric", make_pipeline(SimpleImputer(strategy="median", add_indicator=True,
                                                             keep_empty_features=True),
                                               StandardScaler()), list(range(n))))  # fmt: skip
    if categorical:
        steps.append(("categorical", OneHotEncoder(handle_unknown="ignore"), list(range(n, n + len(categorical)))))
    transform = ColumnTransformer(steps, sparse_threshold=0.0)
    x_train = transform.fit_transform(_matrix(train, numeric, categorical))
    return x_train.astype(np.float64), transform.transform(_matrix(test, numeric, categorical)).astype(np.float64)


def lightgbm_features(train: Examples, test: Examples, context: dict[str, Any]) -> tuple[Any, Any]:
    """Data frames: numbers as floats with NaN, categories as pandas categoricals of the training rows' values."""
    import pandas as pd

    train, test, numeric, categorical = _columns(train, test)
    frames = []
    for table in (train, test):
        frame = pd.DataFrame(_matrix(table, numeric, categorical), columns=[*numeric, *categorical])
        frames.append(frame)
    for name in numeric:
        for frame in frames:
            frame[name] = frame[name].astype(np.float64)
    for name in categorical:
        levels = sorted({v for v in frames[0][name] if v})
        for frame in frames:
            frame[name] = pd.Categorical(frame[name].where(frame[name] != "", None), categories=levels)
    return frames[0], frames[1]


def _lightgbm(kind: str) -> Any:
    def make(seed: int, context: dict[str, Any]) -> Any:
        try:
            import lightgbm
        except ImportError:
            raise ConfigError("the lightgbm baseline needs the lightgbm package: pip install lightgbm") from None
        model = lightgbm.LGBMClassifier if kind == "classifier" else lightgbm.LGBMRegressor
        return model(random_state=seed, n_jobs=1, **LIGHTGBM)

    return make


class _Neighbours:
    """k-NN with k = NEIGHBOURS, or the number of training rows when fewer."""

    def __init__(self, regression: bool) -> None:
        self.regression = regression

    def fit(self, x: np.ndarray, y: np.ndarray) -> _Neighbours:
        k = min(NEIGHBOURS, len(x))
        cls = KNeighborsRegressor if self.regression else KNeighborsClassifier
        self.model = cls(n_neighbors=k, weights="distance").fit(x, y)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.model.predict(x)


logreg_baseline = Baseline(encoded_features, 1.0, "logistic regression on imputed, scaled numbers, one-hot categories")
knn_baseline = Baseline(encoded_features, 1.0, f"{NEIGHBOURS}-nearest neighbours (distance-weighted), same features",
                        classifier=lambda seed, context: _Neighbours(False),
                        regressor=lambda seed, context: _Neighbours(True))  # fmt: skip
lightgbm_baseline = Baseline(lightgbm_features, 1.0, "LightGBM with small-n settings (leaves of 2 rows)",
                             classifier=_lightgbm("classifier"), regressor=_lightgbm("regressor"),
                             peer=True)  # fmt: skip

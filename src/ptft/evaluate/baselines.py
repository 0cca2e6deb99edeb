"""Baselines that need no neural training of ours, on the same K-per-class training split as ptft's runs:
each modality declares its own (features + logistic regression: pixels for images; TF-IDF word and character
n-grams, or a frozen pretrained encoder's mean-pooled features, for text), and this module runs any of them
the same way."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression, Ridge

from ptft.data.labels import numeric_targets
from ptft.data.splits import ids_fingerprint, label_budget, random_budget
from ptft.data.types import Examples
from ptft.errors import ConfigError
from ptft.evaluate.metrics import classification_report, regression_report
from ptft.modalities import modality_of


def train_split(train: Examples, per_class: int, seed: int) -> np.ndarray:
    """The training indices of the K-per-class split that ptft's runs of this seed train on."""
    assert train.labels is not None
    return label_budget(train.labels, per_class, per_class, seed, train.source).train


def is_baseline(method: str, data: Examples) -> bool:
    return method in modality_of(data).baselines


def run_baseline(
    method: str,
    train: Examples,
    test: Examples,
    per_class: int,
    seed: int,
    val_per_class: int | None = None,
    task: str = "classification",
    **context: Any,
) -> dict[str, Any]:
    """Accuracy and macro-F1 on `test` of baseline `method` trained on this seed's K-per-class split.
    With `val_per_class`, it trains on the training and validation examples of the fine-tuning runs'
    split together (a baseline needs no model selection: ptft compare's one meaning of "K labels").
    `context`: what a baseline may need besides the data (`hf_path`, a feature `cache`)."""
    modality = modality_of(train)
    if method not in modality.baselines:
        raise ConfigError(f"unknown {modality.name} baseline '{method}'; available: {', '.join(modality.baselines)}")
    assert train.labels is not None and test.labels is not None
    baseline = modality.baselines[method]
    if task == "regression":  # ridge on the same features, on the fine-tuning runs' random split
        return _regression_baseline(baseline, train, test, per_class, val_per_class or 0, seed, context)
    if val_per_class is None:
        index = train_split(train, per_class, seed)
    else:
        split = label_budget(train.labels, per_class, val_per_class, seed, train.source)
        index = np.sort(np.concatenate([split.train, split.val]))
    part = train.subset(index)
    x_train, x_test = baseline.features(part, test, context)
    clf = baseline.classifier(seed, context) if baseline.classifier else LogisticRegression(max_iter=3000, C=baseline.c)
    clf.fit(x_train, part.labels)
    report = classification_report(test.labels, clf.predict(x_test), train.label_names)
    return {"accuracy": report["accuracy"], "macro_f1": report["macro_f1"], "labelled": ids_fingerprint(part.ids)}


def _regression_baseline(
    baseline: Any, train: Examples, test: Examples, n_train: int, n_val: int, seed: int, context: dict[str, Any]
) -> dict[str, Any]:
    """R² and RMSE on `test` of ridge regression (alpha = 1 / the baseline's C) on its features, trained on
    the training and validation examples of the regression runs' random split of this seed."""
    targets = numeric_targets(train)
    split = random_budget(~np.isnan(targets), n_train, n_val, seed, train.source)
    index = np.sort(np.concatenate([split.train, split.val]))
    part = train.subset(index)
    x_train, x_test = baseline.features(part, test, context)
    model = baseline.regressor(seed, context) if baseline.regressor else Ridge(alpha=1.0 / baseline.c)
    model.fit(x_train, targets[index])
    report = regression_report(numeric_targets(test), model.predict(x_test))
    return {"r2": report["r2"], "rmse": report["rmse"], "labelled": ids_fingerprint(part.ids)}

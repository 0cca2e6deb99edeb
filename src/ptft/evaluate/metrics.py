"""Metrics from scikit-learn and SciPy: accuracy, macro-F1, the confusion matrix and, for two classes, ROC-AUC
for classification; RMSE, MAE, R² and Spearman's rank correlation for regression."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import spearmanr
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, mean_absolute_error, r2_score, roc_auc_score


def classification_report(
    y_true: np.ndarray, y_pred: np.ndarray, label_names: list[str], scores: np.ndarray | None = None
) -> dict[str, Any]:
    """Accuracy, macro-F1, the confusion matrix, and with two classes and `scores` (N, 2 probabilities) where
    both classes occur, the ROC-AUC of the second class's probability."""
    labels = list(range(len(label_names)))
    report = {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "n": int(len(y_true)),
        "labels": label_names,
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }
    if scores is not None and len(label_names) == 2 and len(np.unique(y_true)) == 2:
        report["roc_auc"] = float(roc_auc_score(y_true, scores[:, 1]))
    return report


def regression_report(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    y_true, y_pred = np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)
    constant = len(y_true) < 2 or np.ptp(y_true) == 0 or np.ptp(y_pred) == 0
    return {
        "rmse": float(np.sqrt(np.mean((y_true - y_pred) ** 2))),
        "mae": float(mean_absolute_error(y_true, y_pred)),
        "r2": float(r2_score(y_true, y_pred)) if len(y_true) > 1 else float("nan"),
        "spearman": float("nan") if constant else float(spearmanr(y_true, y_pred).statistic),
        "n": int(len(y_true)),
    }

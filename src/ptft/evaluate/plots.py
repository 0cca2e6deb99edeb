"""Plots (matplotlib, written as PNG): training curves. (A study's plots are in its report: `report.py`.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt  # noqa: E402


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "logs" / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def training_curves(runs: dict[str, Path], path: Path) -> Path:
    """Loss per step (left) and validation accuracy (right) of each named run."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for name, run_dir in runs.items():
        records = read_metrics(run_dir)
        loss = [(r["step"], r["loss"]) for r in records if "loss" in r]
        key = "val_accuracy" if any("val_accuracy" in r for r in records) else "val_knn_accuracy"  # --probe
        val = [(r["step"], 100 * r[key]) for r in records if key in r]
        if loss:
            left.plot(*zip(*loss), label=name)
        if val:
            right.plot(*zip(*val), marker="o", markersize=3, label=name)
    left.set(xlabel="step", ylabel="training loss", title="loss")
    right.set(xlabel="step", ylabel="accuracy (%)", title="validation (fine-tuning) or k-NN probe (pre-training)")
    for ax in (left, right):
        if ax.lines:
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path

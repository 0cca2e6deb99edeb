"""Plots (matplotlib, written as PNG): the comparison bar chart with seed spread, training curves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def comparison_bars(rows: list[dict[str, Any]], path: Path, title: str) -> Path:
    """Mean test accuracy per method (bars) with every seed as a dot and +-1 std as error bars."""
    methods = list(dict.fromkeys(r["method"] for r in rows))
    fig, ax = plt.subplots(figsize=(1.4 * len(methods) + 2, 4))
    for i, method in enumerate(methods):
        values = np.array([100 * r["accuracy"] for r in rows if r["method"] == method])
        ax.bar(i, values.mean(), yerr=values.std() if len(values) > 1 else None, capsize=6, alpha=0.75)
        ax.scatter(np.full(len(values), i), values, color="black", s=12, zorder=3)
        ax.text(i, values.mean() + values.std() + 1, f"{values.mean():.1f}", ha="center", va="bottom", fontsize=9)
    ax.set_xticks(range(len(methods)), methods)
    low = min(100 * r["accuracy"] for r in rows)
    ax.set_ylim(max(0, low - 15), 100)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


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
        val = [(r["step"], 100 * r["val_accuracy"]) for r in records if "val_accuracy" in r]
        if loss:
            left.plot(*zip(*loss), label=name)
        if val:
            right.plot(*zip(*val), marker="o", markersize=3, label=name)
    left.set(xlabel="step", ylabel="training loss", title="loss")
    right.set(xlabel="step", ylabel="validation accuracy (%)", title="validation accuracy")
    for ax in (left, right):
        if ax.lines:
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path

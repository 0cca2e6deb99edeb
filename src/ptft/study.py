"""The label-efficiency study behind `ptft demo` and `bench/`: scratch vs linear probe vs fine-tuned
(vs self-trained) from one pre-trained bundle, plus logistic regression on pixels, on the same splits.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from ptft.api import FineTuner
from ptft.config import FinetuneConfig, LoopConfig
from ptft.data.splits import label_budget
from ptft.data.types import ImageSet
from ptft.evaluate.metrics import classification_report

METHODS = ("logreg", "scratch", "linear", "full", "self-train")
# Each method at the learning rate that suited it (tried on seed 0): a random init wants a higher
# one than a pre-trained encoder (scratch: 68.3 / 69.0 / 71.2 % at 3e-4 / 1e-3 / 3e-3), so the
# baseline is not handicapped by the pre-trained models' setting.
LEARNING_RATES = {"scratch": 3e-3}


def logreg_row(train: ImageSet, test: ImageSet, per_class: int, seed: int) -> dict[str, Any]:
    """Logistic regression on standardised pixels of the same K-per-class training split."""
    assert train.labels is not None and test.labels is not None
    split = label_budget(train.labels, per_class, per_class, seed, train.source)
    x_train = train.images[split.train].reshape(len(split.train), -1).astype(np.float32)
    scaler = StandardScaler().fit(x_train)
    clf = LogisticRegression(max_iter=2000, C=0.1).fit(scaler.transform(x_train), train.labels[split.train])
    pred = clf.predict(scaler.transform(test.images.reshape(len(test), -1).astype(np.float32)))
    report = classification_report(test.labels, pred, train.label_names)
    return {"accuracy": report["accuracy"], "macro_f1": report["macro_f1"]}


def finetune_row(
    method: str,
    pretrained: Path | None,
    train: ImageSet,
    test: ImageSet,
    per_class: int,
    seed: int,
    out: Path,
    loop: LoopConfig,
    encoder_args: dict[str, Any],
) -> dict[str, Any]:
    """One fine-tuning run: method is scratch | linear | full | self-train."""
    strategy = "full" if method == "scratch" else method
    cfg = FinetuneConfig(
        out=str(out),
        overwrite=True,
        strategy=strategy,
        labels_per_class=per_class,
        pretrained="" if method == "scratch" else str(pretrained),
        loop=replace(loop, seed=seed, lr=LEARNING_RATES.get(method, loop.lr)),
    )
    cfg = replace(cfg, model=replace(cfg.model, **encoder_args))
    tuner = FineTuner(cfg).fit(train)
    report = tuner.evaluate(test)
    m = tuner.metrics_
    return {
        "accuracy": report["accuracy"],
        "macro_f1": report["macro_f1"],
        "val_accuracy": m["val_accuracy"],
        "steps": m["steps"],
        "finetune_seconds": round(m["seconds"], 1),
        "pseudo_labels": m.get("pseudo_labels"),
        "kept": m.get("kept"),
    }


def run_study(
    pretrained: Path,
    train: ImageSet,
    test: ImageSet,
    per_class: int,
    seeds: list[int],
    methods: tuple[str, ...],
    out: Path,
    loop: LoopConfig,
    pretrain_minutes: float,
    log: Any = print,
) -> list[dict[str, Any]]:
    """Every method x seed on identical label splits (same seed -> same K-per-class examples)."""
    from ptft.api import load

    spec = load(pretrained).meta["encoder"]
    encoder_args = {k: spec[k] for k in ("dim", "depth", "heads", "patch_size", "activation", "dropout")}
    encoder_args["encoder"] = spec["name"]
    rows = []
    for seed in seeds:
        for method in methods:
            start = time.perf_counter()
            if method == "logreg":
                result = logreg_row(train, test, per_class, seed)
            else:
                run = out / f"{method}-k{per_class}-seed{seed}"
                result = finetune_row(method, pretrained, train, test, per_class, seed, run, loop, encoder_args)
            row = {
                "method": method,
                "labels_per_class": per_class,
                "seed": seed,
                **result,
                "pretrain_minutes": 0.0 if method in ("logreg", "scratch") else round(pretrain_minutes, 2),
                "seconds": round(time.perf_counter() - start, 1),
            }
            log(f"  {method:<10} seed {seed}: test accuracy {100 * row['accuracy']:.1f} %  ({row['seconds']:.0f} s)")
            rows.append(row)
    return rows


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and standard deviation of accuracy per (method, labels_per_class)."""
    groups: dict[tuple[str, int], list[float]] = {}
    for r in rows:
        groups.setdefault((r["method"], r["labels_per_class"]), []).append(r["accuracy"])
    return [
        {"method": m, "labels_per_class": k, "mean": float(np.mean(v)), "std": float(np.std(v)), "n": len(v)}
        for (m, k), v in groups.items()
    ]


def table(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'method':<12}{'labels/class':>13}{'test accuracy':>22}{'seeds':>7}"]
    for s in summarize(rows):
        lines.append(
            f"{s['method']:<12}{s['labels_per_class']:>13}{100 * s['mean']:>15.1f} ± {100 * s['std']:<4.1f}{s['n']:>7}"
        )
    return "\n".join(lines)

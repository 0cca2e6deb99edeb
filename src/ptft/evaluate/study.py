"""The label-efficiency study behind `ptft demo` and `bench/`: from scratch vs linear probe vs fine-tuned
(vs self-trained) from one pre-trained bundle, vs a Hugging Face encoder fine-tuned, plus the modality's
baselines (`ptft.evaluate.baselines`), all on the same label splits. It trains through `ptft.finetune`
only, never through the API above it.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ptft.config import FinetuneConfig, LoopConfig, build
from ptft.data.types import Examples
from ptft.evaluate.baselines import is_baseline, run_baseline
from ptft.finetune.job import run_finetune
from ptft.finetune.model import load

Data = Examples

METHODS = ("logreg", "scratch", "linear", "full", "self-train")
TEXT_METHODS = (
    "tfidf-logreg",
    "scratch",
    "pretrained",
    "pretrained-self-train",
    "minilm-frozen-logreg",
    "minilm-finetuned",
)
# method -> (strategy, start): start is "scratch" (random init), "pretrained" (ptft's bundle) or "hf" (--hf-path).
FINETUNE_METHODS = {
    "scratch": ("full", "scratch"),
    "linear": ("linear", "pretrained"),
    "full": ("full", "pretrained"),
    "self-train": ("self-train", "pretrained"),
    "pretrained": ("full", "pretrained"),
    "pretrained-self-train": ("self-train", "pretrained"),
    "minilm-finetuned": ("full", "hf"),
}
# Each method at the learning rate that suited it (tried on seed 0): a random init wants a higher
# one than a pre-trained encoder (Fashion-MNIST scratch: 68.3 / 69.0 / 71.2 % at 3e-4 / 1e-3 / 3e-3),
# so the baseline is not handicapped by the pre-trained models' setting.
LEARNING_RATES = {"scratch": 3e-3}


def finetune_row(
    method: str,
    pretrained: Path | None,
    train: Data,
    test: Data,
    per_class: int,
    seed: int,
    out: Path,
    loop: LoopConfig,
    overrides: dict[str, Any],
    hf_path: str = "",
) -> dict[str, Any]:
    """One fine-tuning run; `overrides` are flat config keys (encoder shape, text options, learning rates)."""
    strategy, start = FINETUNE_METHODS[method]
    source = {"scratch": "", "pretrained": str(pretrained), "hf": f"hf:{hf_path}"}[start]
    lr = overrides.get(f"lr:{method}", LEARNING_RATES.get(method, loop.lr))
    base = FinetuneConfig(loop=replace(loop, seed=seed, lr=lr))
    values = {k: v for k, v in overrides.items() if not k.startswith("lr:")}
    if start == "hf":  # the imported model brings its own shape and tokenizer
        values = {k: v for k, v in values.items() if k not in SHAPE_KEYS}
    cfg = build(FinetuneConfig, {**values, "out": str(out), "overwrite": True, "strategy": strategy,
                                 "labels_per_class": per_class, "pretrained": source}, base=base)  # fmt: skip
    tuned = run_finetune(cfg, train)
    report = tuned.model.evaluate(test)
    m = tuned.metrics
    return {
        "accuracy": report["accuracy"],
        "macro_f1": report["macro_f1"],
        "val_accuracy": m["val_accuracy"],
        "steps": m["steps"],
        "finetune_seconds": round(m["seconds"], 1),
        "pseudo_labels": m.get("pseudo_labels"),
        "kept": m.get("kept"),
    }


def encoder_shape(spec: dict[str, Any]) -> dict[str, Any]:
    """The model options (`ModelConfig` keys) of a stored encoder spec: a scratch run built with them differs
    from the pre-trained encoder only in its initialisation."""
    keys = ("dim", "depth", "heads", "patch_size", "activation", "dropout")
    return {k: spec[k] for k in keys if k in spec} | {"encoder": spec["name"]}


SHAPE_KEYS = ("encoder", "dim", "depth", "heads", "patch_size", "activation", "dropout", "vocab_size", "max_length")


def run_study(
    pretrained: Path | None,
    train: Data,
    test: Data,
    per_class: int,
    seeds: list[int],
    methods: tuple[str, ...],
    out: Path,
    loop: LoopConfig,
    pretrain_minutes: float,
    log: Any = print,
    overrides: dict[str, Any] | None = None,
    hf_path: str = "",
    cache: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Every method x seed on identical label splits (same seed -> same K-per-class examples).

    Scratch runs take the pre-trained encoder's shape (so only the initialisation differs) unless
    `overrides` sets it; `hf_path` is the Hugging Face folder of the minilm-* rows."""
    overrides = dict(overrides or {})
    if pretrained is not None:
        spec = load(pretrained).meta["encoder"]
        overrides = {**encoder_shape(spec), **overrides}
    rows = []
    for seed in seeds:
        for method in methods:
            start = time.perf_counter()
            if is_baseline(method, train):
                result = run_baseline(method, train, test, per_class, seed, hf_path=hf_path, cache=cache)
            else:
                run = out / f"{method}-k{per_class}-seed{seed}"
                result = finetune_row(method, pretrained, train, test, per_class, seed, run, loop, overrides, hf_path)
            uses_pretraining = FINETUNE_METHODS.get(method, ("", ""))[1] == "pretrained"
            row = {
                "method": method,
                "labels_per_class": per_class,
                "seed": seed,
                **result,
                "pretrain_minutes": round(pretrain_minutes, 2) if uses_pretraining else 0.0,
                "seconds": round(time.perf_counter() - start, 1),
            }
            log(f"  {method:<22} seed {seed}: test accuracy {100 * row['accuracy']:.1f} %  ({row['seconds']:.0f} s)")
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
    width = max([12, *(len(r["method"]) + 2 for r in rows)])
    lines = [f"{'method':<{width}}{'labels/class':>13}{'test accuracy':>22}{'seeds':>7}"]
    for s in summarize(rows):
        lines.append(
            f"{s['method']:<{width}}{s['labels_per_class']:>13}{100 * s['mean']:>15.1f} ± {100 * s['std']:<4.1f}"
            f"{s['n']:>7}"
        )
    return "\n".join(lines)

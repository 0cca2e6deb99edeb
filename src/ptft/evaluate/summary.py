"""A study's rows summarised: per method and budget the mean test accuracy (and macro-F1) with its 95 %
interval, the paired difference against `scratch` and against the best baseline, and per budget the
sentences that answer "did pre-training help?"."""

from __future__ import annotations

import math
from typing import Any

from ptft.evaluate.stats import Interval, paired_difference, t_interval, verdict

SCRATCH = "scratch"


def _by_seed(rows: list[dict[str, Any]], method: str, per_class: int, key: str = "accuracy") -> dict[int, float]:
    return {r["seed"]: r[key] for r in rows if r["method"] == method and r["labels_per_class"] == per_class}


def _clean(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 6)


def _diff_fields(prefix: str, diff: Interval | None) -> dict[str, float | None]:
    if diff is None:
        return {prefix: None, f"{prefix}_ci_low": None, f"{prefix}_ci_high": None}
    return {prefix: _clean(diff.mean), f"{prefix}_ci_low": _clean(diff.low), f"{prefix}_ci_high": _clean(diff.high)}


def best_baseline(rows: list[dict[str, Any]], per_class: int, key: str = "accuracy") -> str | None:
    """The baseline with the highest mean `key` (accuracy, or R²) at this budget."""
    here = [r for r in rows if r["labels_per_class"] == per_class]
    baselines = dict.fromkeys(r["method"] for r in here if r["kind"] == "baseline")  # in row order: ties stay fixed
    means = {m: t_interval(list(_by_seed(rows, m, per_class, key).values())).mean for m in baselines}
    return max(means, key=lambda m: means[m]) if means else None


def summarize(
    rows: list[dict[str, Any]], primary: str = "accuracy", secondary: str = "macro_f1"
) -> list[dict[str, Any]]:
    """One entry per (method, budget), in the order the rows first name them: `mean` and the differences are
    of `primary` (accuracy, or R² for regression), and `secondary` (macro-F1, or RMSE) is shown beside it."""
    out = []
    keys = list(dict.fromkeys((r["method"], r["labels_per_class"], r["kind"]) for r in rows))
    for method, per_class, kind in keys:
        accuracy = _by_seed(rows, method, per_class, primary)
        interval = t_interval(list(accuracy.values()))
        other = t_interval(list(_by_seed(rows, method, per_class, secondary).values()))
        scratch = _by_seed(rows, SCRATCH, per_class, primary)
        baseline = best_baseline(rows, per_class, primary)
        entry = {
            "method": method, "kind": kind, "labels_per_class": per_class, "n": interval.n,
            "mean": _clean(interval.mean), "ci_low": _clean(interval.low), "ci_high": _clean(interval.high),
            secondary: _clean(other.mean), f"{secondary}_ci_low": _clean(other.low),
            f"{secondary}_ci_high": _clean(other.high),
        }  # fmt: skip
        vs_scratch = paired_difference(accuracy, scratch) if scratch and method != SCRATCH else None
        entry.update(_diff_fields("diff_vs_scratch", vs_scratch))
        vs_best = None
        if baseline and method != baseline:
            vs_best = paired_difference(accuracy, _by_seed(rows, baseline, per_class, primary))
        entry.update(_diff_fields("diff_vs_best_baseline", vs_best), best_baseline=baseline)
        out.append(entry)
    return out


def verdicts(summary: list[dict[str, Any]], rows: list[dict[str, Any]], key: str = "accuracy") -> list[dict[str, Any]]:
    """Per budget: the best method that starts from a pre-trained encoder, against scratch and against the
    best baseline, as sentences with their paired intervals (accuracy in points; R² as it is)."""
    out = []
    unit, name = (100.0, "points") if key == "accuracy" else (1.0, "in R²")
    for per_class in sorted({s["labels_per_class"] for s in summary}):
        here = [s for s in summary if s["labels_per_class"] == per_class]
        pretrained = [s for s in here if s["kind"] == "finetune" and s["method"] != SCRATCH]
        sentences = []
        if not pretrained:
            sentences.append("no pre-trained encoder in this study (give --pretrained): nothing to judge")
        else:
            best = max(pretrained, key=lambda s: s["mean"])
            score = _by_seed(rows, best["method"], per_class, key)
            if any(s["method"] == SCRATCH for s in here):
                diff = paired_difference(score, _by_seed(rows, SCRATCH, per_class, key))
                sentences.append(verdict(f"pre-training ({best['method']})", "scratch", diff, unit, units=name))
            if best["best_baseline"]:
                diff = paired_difference(score, _by_seed(rows, best["best_baseline"], per_class, key))
                than = f"the best baseline ({best['best_baseline']})"
                sentences.append(verdict(f"ptft's best ({best['method']})", than, diff, unit, rival=True, units=name))
            if not sentences:
                sentences.append("nothing to compare it with: add scratch or a baseline to --methods")
        out.append({"labels_per_class": per_class, "sentences": sentences})
    return out

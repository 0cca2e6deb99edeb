"""A study's rows summarised: per method and budget the mean test accuracy (and macro-F1) with its 95 %
interval, the paired difference against `scratch`, against the best baseline (peers included) and against
the best peer (another tool's own method: kind "peer"), and per budget the sentences that answer "did
pre-training help?" and "did ptft beat the tool one would use instead?"."""

from __future__ import annotations

import math
from typing import Any

from ptft.evaluate.stats import Interval, paired_difference, t_interval, verdict

SCRATCH = "scratch"
RIVALS = ("baseline", "peer")  # the kinds of row that are not ptft's own training


def from_random_init(method: str) -> bool:
    """`scratch`, or a strategy run from a random init as a control (`fixmatch[scratch]`; no start may be named
    so): no pre-training to judge."""
    return method == SCRATCH or method.endswith(f"[{SCRATCH}]")


def _by_seed(rows: list[dict[str, Any]], method: str, per_class: int, key: str = "accuracy") -> dict[int, float]:
    return {r["seed"]: r[key] for r in rows if r["method"] == method and r["labels_per_class"] == per_class}


def _clean(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 6)


def _diff_fields(prefix: str, diff: Interval | None) -> dict[str, float | None]:
    if diff is None:
        return {prefix: None, f"{prefix}_ci_low": None, f"{prefix}_ci_high": None}
    return {prefix: _clean(diff.mean), f"{prefix}_ci_low": _clean(diff.low), f"{prefix}_ci_high": _clean(diff.high)}


def best_baseline(
    rows: list[dict[str, Any]], per_class: int, key: str = "accuracy", kinds: tuple[str, ...] = RIVALS
) -> str | None:
    """The baseline (or peer) with the highest mean `key` (accuracy, or R²) at this budget; `kinds=("peer",)`:
    the best peer."""
    here = [r for r in rows if r["labels_per_class"] == per_class]
    baselines = dict.fromkeys(r["method"] for r in here if r["kind"] in kinds)  # in row order: ties stay fixed
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
        peer = best_baseline(rows, per_class, primary, ("peer",))
        entry = {
            "method": method, "kind": kind, "labels_per_class": per_class, "n": interval.n,
            "mean": _clean(interval.mean), "ci_low": _clean(interval.low), "ci_high": _clean(interval.high),
            secondary: _clean(other.mean), f"{secondary}_ci_low": _clean(other.low),
            f"{secondary}_ci_high": _clean(other.high),
        }  # fmt: skip
        vs_scratch = paired_difference(accuracy, scratch) if scratch and method != SCRATCH else None
        entry.update(_diff_fields("diff_vs_scratch", vs_scratch))
        for name, rival in (("baseline", baseline), ("peer", peer)):
            vs_best = None
            if rival and method != rival:
                vs_best = paired_difference(accuracy, _by_seed(rows, rival, per_class, primary))
            entry.update(_diff_fields(f"diff_vs_best_{name}", vs_best), **{f"best_{name}": rival})
        out.append(entry)
    return out


def _rivals(baseline: str | None, peer: str | None) -> list[tuple[str, str]]:
    """(method, how a verdict names it): the best baseline, and the best peer when that is another row."""
    out = []
    if baseline:
        out.append((baseline, f"the best baseline ({baseline}{', a peer' if baseline == peer else ''})"))
    if peer and peer != baseline:
        out.append((peer, f"the best peer ({peer})"))
    return out


def verdicts(summary: list[dict[str, Any]], rows: list[dict[str, Any]], key: str = "accuracy") -> list[dict[str, Any]]:
    """Per budget: the best method that starts from a pre-trained encoder, against scratch, against the best
    baseline and, when that is not a peer, against the best peer, as sentences with their paired intervals
    (accuracy in points; R² as it is)."""
    out = []
    unit, name = (100.0, "points") if key == "accuracy" else (1.0, "in R²")
    for per_class in sorted({s["labels_per_class"] for s in summary}):
        here = [s for s in summary if s["labels_per_class"] == per_class]
        pretrained = [s for s in here if s["kind"] == "finetune" and not from_random_init(s["method"])]
        sentences = []
        if not pretrained:
            sentences.append("no method fine-tunes a pre-trained encoder here (give --pretrained): nothing to judge")
        else:
            best = max(pretrained, key=lambda s: s["mean"])
            score = _by_seed(rows, best["method"], per_class, key)
            if any(s["method"] == SCRATCH for s in here):
                diff = paired_difference(score, _by_seed(rows, SCRATCH, per_class, key))
                sentences.append(verdict(f"pre-training ({best['method']})", "scratch", diff, unit, units=name))
            for rival, than in _rivals(best["best_baseline"], best.get("best_peer")):
                diff = paired_difference(score, _by_seed(rows, rival, per_class, key))
                sentences.append(verdict(f"ptft's best ({best['method']})", than, diff, unit, rival=True, units=name))
            if not sentences:
                sentences.append("nothing to compare it with: add scratch or a baseline to --methods")
        out.append({"labels_per_class": per_class, "sentences": sentences})
    return out

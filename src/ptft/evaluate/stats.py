"""The statistics of a label-efficiency study: a mean with its 95 % interval over seeds, the paired difference
between two methods (the same labelled examples per seed, so the seed-to-seed variation of the labels
cancels), and the sentence a reader can act on.

Intervals are Student-t over seeds (n - 1 degrees of freedom): with 5 seeds a bootstrap has too few
distinct resamples to be trusted, and the t interval is the textbook one for a mean of a few paired
differences. One seed has no interval (NaN).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from scipy import stats as scipy_stats

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float  # NaN with one value
    high: float
    n: int


def t_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> Interval:
    """Mean and Student-t interval of `values`."""
    n = len(values)
    if n == 0:
        raise ValueError("an interval needs at least one value")
    mean = math.fsum(values) / n
    if n == 1:
        return Interval(mean, math.nan, math.nan, 1)
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(scipy_stats.t.ppf(0.5 + confidence / 2, n - 1)) * sd / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n)


def paired_difference(a: Mapping[int, float], b: Mapping[int, float]) -> Interval:
    """Mean and interval of a[seed] - b[seed] over the seeds both have."""
    seeds = sorted(set(a) & set(b))
    if not seeds:
        raise ValueError("no seed in common: the two methods were not run on the same splits")
    return t_interval([a[s] - b[s] for s in seeds])


def verdict(
    what: str, than: str, diff: Interval, unit: float = 100.0, rival: bool = False, units: str = "points"
) -> str:
    """`what` helped / hurt / did not help detectably against `than` (`unit` = 100: accuracy fractions shown as
    percentage points; 1 with `units` 'in R²': R² as it is). `rival`: `than` is another way to the same end
    (a baseline), not the same model without pre-training: `what` beat it / fell short of it / did not differ
    detectably."""
    digits = 1 if unit == 100.0 else 3
    mean, low, high = diff.mean * unit, diff.low * unit, diff.high * unit
    by, signed = f"{abs(mean):.{digits}f} {units}", f"{mean:+.{digits}f} {units}"
    if diff.n < 2:
        return f"{what} vs {than}: {signed} on one seed (no interval: run more seeds)"
    interval = f"95 % CI {low:+.{digits}f} to {high:+.{digits}f}, {diff.n} seeds"
    if rival:
        if low > 0:
            return f"{what} beat {than} by {by} ({interval})"
        if high < 0:
            return f"{what} fell {by} short of {than} ({interval})"
        return f"{what} did not differ detectably from {than} ({signed}, {interval})"
    if low > 0:
        return f"{what} helped by {by} over {than} ({interval})"
    if high < 0:
        return f"{what} hurt: {by} below {than} ({interval})"
    return f"{what} did not help detectably over {than} ({signed}, {interval})"

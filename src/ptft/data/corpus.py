"""The pre-training corpus from raw texts: clean, de-duplicate, remove leakage; with a report of each step."""

from __future__ import annotations

import time
from typing import Any

from ptft.data.cleaning import CleanConfig, clean
from ptft.data.dedup import dedup_exact, dedup_near, leakage
from ptft.errors import DataError


def prepare_corpus(
    texts: list[str],
    do_clean: bool = True,
    dedup: str = "exact",
    held_out: list[str] | None = None,
    source: str = "",
    max_chars: int = 0,
) -> tuple[list[str], dict[str, Any]]:
    """-> (kept texts, report). Steps in order: cutting texts to `max_chars` (0 = no cut; the model reads
    only the first tokens anyway), cleaning (transforms + filters), de-duplication (`exact` | `near` |
    `none`), removal of texts that duplicate a held-out (validation/test) text."""
    start = time.perf_counter()
    report: dict[str, Any] = {"read": len(texts)}
    if max_chars:
        report["cut_to_max_chars"] = sum(len(text) > max_chars for text in texts)
        texts = [text[:max_chars] for text in texts]
    if do_clean:
        texts, cleaned = clean(texts, CleanConfig())
        report["cleaning"] = {"kept": cleaned.kept, "changed": dict(cleaned.changed), "dropped": dict(cleaned.dropped)}
    if dedup != "none":
        texts, dups = (dedup_exact if dedup == "exact" else dedup_near)(texts)
        report[f"dedup_{dedup}"] = {"removed": dups.removed, "kept": dups.kept}
    if held_out:
        texts, leaks = leakage(texts, held_out, near=dedup == "near")
        report["leakage"] = {"removed": leaks.removed, "exact": len(leaks.exact), "near": len(leaks.near)}
    if not texts:
        raise DataError(f"{source}: no text is left after cleaning and de-duplication; see the report {report}")
    seconds = time.perf_counter() - start
    report.update(
        kept=len(texts), seconds=round(seconds, 2), lines_per_second=round(report["read"] / max(seconds, 1e-9))
    )
    return texts, report

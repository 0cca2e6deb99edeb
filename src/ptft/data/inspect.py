"""Look at a text corpus before training on it, and write a cleaned, de-duplicated copy of it.

`inspect_texts` reports counts, per-label counts, lengths, blank texts, exact and near duplicates
(as `ptft.data.dedup` finds them: normalised-text hashes and MinHash-LSH, Broder 1997) and what
`ptft.data.cleaning.clean` would change or drop. `clean_texts_to_file` applies cleaning and
de-duplication and writes JSONL (or plain text, one line per text) atomically. Both stream: the
examples are cleaned CHUNK_SIZE at a time with `clean`, so memory holds one chunk plus the duplicate
index (16 bytes per text for exact, one MinHash signature of NUM_PERM 8-byte values per text for near).
They back `ptft data inspect` and `ptft data clean`. Given the `ReadStats` the examples were read with,
both reports say how many bad lines the reader skipped (--skip-bad N) and where the first ones were.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from ptft.data.cleaning import EXAMPLES_PER_REASON, CleanConfig, CleanReport, clean
from ptft.data.dedup import NEAR_THRESHOLD, NearIndex, text_hash
from ptft.data.text import ReadStats, TextExample
from ptft.data.types import skip_report
from ptft.errors import ConfigError, DataError

CHUNK_SIZE = 4096  # examples cleaned per call of `clean`
DEDUP_MODES = ("exact", "near", "none")
OUTPUT_SUFFIXES = (".jsonl", ".txt")
DUPLICATE_EXAMPLES = 3  # duplicates quoted in the inspection report
TOP_LABELS = 10  # labels listed by format_inspection


def cleaned_stream(
    examples: Iterable[TextExample], config: CleanConfig, report: CleanReport
) -> Iterator[tuple[TextExample, str | None]]:
    """Each example with its cleaned text, or None when a filter drops it; `report` adds up clean's reports.

    The merged report leaves `kept_indices` empty: the pairing with the example replaces it.
    """
    iterator = iter(examples)
    while chunk := list(islice(iterator, CHUNK_SIZE)):
        kept, part = clean([example.text for example in chunk], config)
        report.seen += part.seen
        report.kept += part.kept
        report.changed.update(part.changed)
        report.chars_removed.update(part.chars_removed)
        report.dropped.update(part.dropped)
        for reason, texts in part.examples.items():
            quoted = report.examples.setdefault(reason, [])
            quoted += texts[: EXAMPLES_PER_REASON - len(quoted)]
        cleaned = dict(zip(part.kept_indices, kept))
        for index, example in enumerate(chunk):
            yield example, cleaned.get(index)


def length_stats(lengths: list[int]) -> dict[str, float]:
    """min, mean, median, 95th percentile and max of `lengths` (all 0 when there are none)."""
    if not lengths:
        return {"min": 0, "mean": 0.0, "median": 0.0, "p95": 0.0, "max": 0}
    values = np.asarray(lengths, dtype=np.int64)
    return {
        "min": int(values.min()),
        "mean": round(float(values.mean()), 2),
        "median": float(np.median(values)),
        "p95": float(np.percentile(values, 95)),
        "max": int(values.max()),
    }


class Duplicates:
    """The texts seen so far, for `dedup` 'exact' (normalised-text hash) or 'near' (MinHash-LSH); 'none' finds none."""

    def __init__(self, dedup: str):
        if dedup not in DEDUP_MODES:
            raise ConfigError(f"dedup {dedup!r} is unknown; use one of {', '.join(DEDUP_MODES)}")
        self.dedup = dedup
        self.hashes: set[bytes] = set()
        self.near_index = NearIndex(NEAR_THRESHOLD) if dedup == "near" else None

    def seen(self, position: int, text: str) -> bool:
        """True when `text` duplicates an earlier text; otherwise remember it (under `position`) and say False."""
        if self.dedup == "exact":
            digest = text_hash(text)
            if digest in self.hashes:
                return True
            self.hashes.add(digest)
        elif self.near_index is not None:
            signature = self.near_index.signature(text)
            if self.near_index.match(signature) is not None:
                return True
            self.near_index.add(position, signature)
        return False


NOTHING_SKIPPED = {"skipped": 0, "skipped_at": []}  # the reports always say how many bad lines were skipped


def inspect_texts(
    examples: Iterable[TextExample],
    near: bool = True,
    clean_config: CleanConfig | None = None,
    stats: ReadStats | None = None,
) -> dict[str, Any]:
    """One pass over `examples`: counts, lengths, blanks, duplicates and what cleaning would do.

    Duplicates are counted on the texts as read: `exact_duplicates` are the texts `dedup_exact` would
    remove, `near_duplicates` those `dedup_near` would remove (exact ones included); None when near=False.
    `stats`: what the reader of `examples` skipped, reported as `skipped` and `skipped_at`.
    """
    start = time.perf_counter()
    cleaning = CleanReport()
    labels: Counter[str] = Counter()
    chars: list[int] = []
    words: list[int] = []
    blank = 0
    checks = {"exact": Duplicates("exact"), "near": Duplicates("near" if near else "none")}
    found: Counter[str] = Counter()
    places: dict[str, list[str]] = {"exact": [], "near": []}  # the first few duplicates, as 'file:line: text'
    for position, (example, _) in enumerate(cleaned_stream(examples, clean_config or CleanConfig(), cleaning)):
        text = example.text
        if example.label is not None:
            labels[example.label] += 1
        chars.append(len(text))
        words.append(len(text.split()))
        blank += not text.strip()
        for kind, check in checks.items():
            if check.seen(position, text):
                found[kind] += 1
                if len(places[kind]) < DUPLICATE_EXAMPLES:
                    places[kind].append(f"{example.source}:{example.line}: {text[:60]!r}")
    count = len(chars)
    seconds = time.perf_counter() - start

    def duplicates(kind: str) -> dict[str, Any]:
        return {"count": found[kind], "rate": round(found[kind] / max(count, 1), 4), "examples": places[kind]}

    return {
        "examples": count,
        "labelled": sum(labels.values()),
        "labels": dict(labels.most_common()),
        "chars": length_stats(chars),
        "words": length_stats(words),
        "blank": blank,
        "exact_duplicates": duplicates("exact"),
        "near_duplicates": {**duplicates("near"), "threshold": NEAR_THRESHOLD} if near else None,
        "cleaning": {
            "kept": cleaning.kept,
            "changed": dict(cleaning.changed),
            "chars_removed": dict(cleaning.chars_removed),
            "dropped": dict(cleaning.dropped),
            "dropped_examples": cleaning.examples,
        },
        **(NOTHING_SKIPPED | skip_report(stats)),  # read once the examples are consumed
        "seconds": round(seconds, 3),
        "lines_per_second": round(count / max(seconds, 1e-9)),
    }


def format_inspection(report: dict[str, Any]) -> str:
    """`inspect_texts`'s report as a few aligned lines for a terminal."""
    count = report["examples"]
    labels = report["labels"]
    listed = ", ".join(f"{name} {number:,}" for name, number in list(labels.items())[:TOP_LABELS])
    if len(labels) > TOP_LABELS:
        listed += f", ... ({len(labels) - TOP_LABELS} more)"

    def lengths(stats: dict[str, float]) -> str:
        return "  ".join(f"{key} {stats[key]:g}" for key in ("min", "mean", "median", "p95", "max"))

    def duplicates(found: dict[str, Any] | None, extra: str = "") -> list[str]:
        if found is None:
            return ["not checked (near=False)"]
        return [f"{found['count']:,} ({found['rate']:.2%}{extra})"] + [f"  e.g. {where}" for where in found["examples"]]

    cleaning = report["cleaning"]
    changed = ", ".join(f"{name} {number:,}" for name, number in cleaning["changed"].items()) or "nothing"
    dropped = ", ".join(f"{name} {number:,}" for name, number in cleaning["dropped"].items()) or "nothing"
    near = report["near_duplicates"]
    bad = [f"{report.get('skipped', 0):,} skipped (--skip-bad)"]
    bad += [f"  e.g. {where}" for where in report.get("skipped_at", [])[:DUPLICATE_EXAMPLES]]
    rows: list[tuple[str, list[str]]] = [
        ("examples", [f"{count:,} ({report['labelled']:,} labelled, {len(labels)} labels)"]),
        ("labels", [listed or "none"]),
        ("chars", [lengths(report["chars"])]),
        ("words", [lengths(report["words"])]),
        ("blank", [f"{report['blank']:,}"]),
        ("exact dups", duplicates(report["exact_duplicates"])),
        ("near dups", duplicates(near, "" if near is None else f", Jaccard >= {near['threshold']}")),
        ("cleaning", [f"would change: {changed}", f"would drop: {dropped}", f"would keep {cleaning['kept']:,}"]),
        ("bad lines", bad),
        ("time", [f"{report['seconds']:.2f} s, {report['lines_per_second']:,} lines/s"]),
    ]
    width = max(len(name) for name, _ in rows) + 2
    return "\n".join(
        (name if number == 0 else "").ljust(width) + line for name, lines in rows for number, line in enumerate(lines)
    )


def output_line(example: TextExample, text: str, out: Path) -> str:
    """The line written for one kept example: JSONL `{"text", "label"}` (label only if any), or the bare text."""
    if out.suffix.lower() == ".jsonl":
        record = {"text": text} if example.label is None else {"text": text, "label": example.label}
        return json.dumps(record, ensure_ascii=False) + "\n"
    if example.label is not None:
        raise DataError(
            f"{out}: {example.source}:{example.line} has the label {example.label!r}, and a .txt output keeps only "
            f"texts; write to {out.with_suffix('.jsonl')} instead to keep the labels"
        )
    if "\n" in text or "\r" in text:
        raise DataError(
            f"{out}: the text of {example.source}:{example.line} holds a line break, and a .txt output is one text "
            f"per line; write to {out.with_suffix('.jsonl')} instead, or keep normalize_whitespace on"
        )
    return text + "\n"


def check_output(out: Path, overwrite: bool) -> None:
    """Refuse an unknown suffix, an existing file (unless `overwrite`) and a missing folder before reading."""
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise DataError(f"{out}: cannot write a '{out.suffix}' file; name it .jsonl (texts and labels) or .txt (texts)")
    if out.exists() and not overwrite:
        raise DataError(f"{out}: already exists; pass --overwrite (overwrite=True) to replace it, or pick another path")
    if not out.parent.is_dir():
        raise DataError(f"{out}: the folder {out.parent} does not exist; create it first")


def clean_texts_to_file(
    examples: Iterable[TextExample],
    out: Path,
    clean_config: CleanConfig | None = None,
    dedup: str = "exact",
    overwrite: bool = False,
    stats: ReadStats | None = None,
) -> dict[str, Any]:
    """Clean, de-duplicate (`exact` | `near` | `none`, on the cleaned texts, first kept) and write to `out`.

    `out` ending in .jsonl gets `{"text": ..., "label": ...}` per line (label only when the example has
    one); .txt gets one text per line and is refused for labelled examples. The file appears only once
    complete (temporary file in the same folder, then rename). Returns what each step kept and removed,
    and (`stats`: what the reader of `examples` skipped) the bad lines skipped.
    """
    out = Path(out)
    duplicates = Duplicates(dedup)
    check_output(out, overwrite)
    start = time.perf_counter()
    cleaning = CleanReport()
    stream = cleaned_stream(examples, clean_config or CleanConfig(), cleaning)
    kept = labelled = duplicated = 0
    handle, temporary = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as file:
            for position, (example, text) in enumerate(stream):
                if text is None:
                    continue
                if duplicates.seen(position, text):
                    duplicated += 1
                    continue
                file.write(output_line(example, text, out))
                kept += 1
                labelled += example.label is not None
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, out)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    seconds = time.perf_counter() - start
    return {
        "read": cleaning.seen,
        "kept": kept,
        "labelled": labelled,
        "removed": {**dict(cleaning.dropped), **({f"{dedup}_duplicate": duplicated} if dedup != "none" else {})},
        "changed": dict(cleaning.changed),
        "output": str(out),
        **(NOTHING_SKIPPED | skip_report(stats)),  # read once the examples are consumed
        "seconds": round(seconds, 3),
        "lines_per_second": round(cleaning.seen / max(seconds, 1e-9)),
    }

"""`ptft data inspect` for a table: rows, labels, and per column its kind, missing rate, cardinality and whether
it is constant (a column `TableNormalizer` would leave out), plus exact duplicate rows."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from ptft.data.table import TableSet, as_number
from ptft.data.types import skip_report

TOP_VALUES = 3  # most frequent values quoted per categorical column
TOP_LABELS = 10


def _column(name: str, kind: str, values: np.ndarray) -> dict[str, Any]:
    present = [v for v in values if v is not None]
    counts = Counter(present)
    entry: dict[str, Any] = {
        "name": name, "kind": kind, "missing_rate": 1 - len(present) / max(len(values), 1), "distinct": len(counts),
        "constant": len(counts) + (len(present) < len(values)) <= 1,
        "unique": kind != "numeric" and len(counts) == len(values) > 1,  # a category per row: an id
    }  # fmt: skip
    if kind == "numeric" and present:
        numbers = np.array([n for v in present if (n := as_number(v)) is not None], dtype=np.float64)
        if len(numbers):
            entry.update(min=float(numbers.min()), median=float(np.median(numbers)), max=float(numbers.max()))
    else:
        entry["top"] = [[v, n] for v, n in counts.most_common(TOP_VALUES)]
    return entry


def inspect_table(table: TableSet) -> dict[str, Any]:
    """The inspection report of a table (plain JSON)."""
    rows = list(zip(*table.columns.values(), strict=True))
    labels = table.labels.tolist() if table.labels is not None else [None] * len(table)
    duplicates = len(rows) - len(set(zip(rows, labels, strict=True)))
    report: dict[str, Any] = {
        "source": table.source, "rows": len(table),
        "columns": [_column(n, table.kinds.get(n, "categorical"), v) for n, v in table.columns.items()],
        "duplicate_rows": duplicates, **skip_report(table),
    }  # fmt: skip
    if table.labels is not None:
        counts = Counter(table.label_names[k] if k >= 0 else None for k in table.labels.tolist())
        report["labels"] = {"classes": len(table.label_names), "unlabelled": counts.pop(None, 0),
                            "counts": dict(counts.most_common())}  # fmt: skip
    return report


def format_table_inspection(report: dict[str, Any]) -> str:
    lines = [f"{report['source']}: {report['rows']} rows, {len(report['columns'])} feature columns, "
             f"{report['duplicate_rows']} exact duplicate rows"]  # fmt: skip
    if "labels" in report:
        labels = report["labels"]
        top = ", ".join(f"{k} {v}" for k, v in list(labels["counts"].items())[:TOP_LABELS])
        lines.append(f"labels: {labels['classes']} classes ({top}); {labels['unlabelled']} rows without a label")
    width = max(len(c["name"]) for c in report["columns"])
    lines.append(f"{'column':{width}}  kind         missing  distinct  values")
    for c in report["columns"]:
        if "min" in c:
            values = f"min {c['min']:g}, median {c['median']:g}, max {c['max']:g}"
        else:
            values = ", ".join(f"{v} ({n})" for v, n in c.get("top", []))
        flag = "  CONSTANT: left out at fit" if c["constant"] else ""
        if c.get("unique"):
            flag = "  UNIQUE per row: an id? pass --id-column or --drop-columns"
        lines.append(f"{c['name']:{width}}  {c['kind']:11}  {100 * c['missing_rate']:6.1f}%  {c['distinct']:8}  "
                     f"{values}{flag}")  # fmt: skip
    if report.get("skipped"):
        lines.append(f"skipped {report['skipped']} bad row(s) (--skip-bad), first: {report['skipped_at'][0]}")
    return "\n".join(lines)

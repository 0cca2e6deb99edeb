"""Tables: rows of named columns from CSV, TSV, JSONL or Parquet, as a `TableSet`.

A table is read into one array of raw values per column (strings; None where a cell is missing: empty,
`NA`, `NaN`, `?`, `null`, `None`, `N/A`, any case). The label column becomes the labels, `--drop-columns`
(ids, leaky columns) and the id column are left out of the features, and every other column gets a kind
inferred from its values: `numeric` (every value a number), `boolean` (true/false or yes/no) or
`categorical`; `--numeric a,b` / `--categorical c` override the inference. A value that is not a number in a
numeric column (declared, or a column whose values are almost all numbers) is a bad record, like a row with
the wrong number of fields: a DataError naming file, line and column, or with `--skip-bad N` a counted skip.
A header with duplicate names is an error. The files are read row by row; the table is then held in memory
(a table larger than memory cannot be prepared into shards yet).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ptft.data.types import Examples, ReadStats
from ptft.errors import DataError

MISSING = frozenset({"", "na", "nan", "?", "null", "none", "n/a"})  # lower-cased, stripped cell values
TABLE_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
BOOLEANS = (frozenset({"true", "false"}), frozenset({"yes", "no"}))
NUMERIC_SHARE = 0.9  # a column whose values are at least this share numbers is numeric with stray values
KINDS = ("numeric", "categorical", "boolean")
PARQUET_BATCH_ROWS = 8192


@dataclass
class TableSet(Examples):
    """Feature columns by name, each an object array of N raw values (str, None = missing), their kinds, and
    where each row came from (`where[i]` = `file:line`, for messages; `ids` may be an id column's values)."""

    columns: dict[str, np.ndarray]
    kinds: dict[str, str] = field(default_factory=dict)
    where: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        sizes = {len(v) for v in self.columns.values()}
        if len(sizes) > 1:
            raise ValueError(f"TableSet: columns of different lengths {sorted(sizes)}")
        super().__post_init__()
        if not self.where:
            self.where = list(self.ids)

    def _count(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def _take(self, index: np.ndarray) -> dict[str, Any]:
        where = [self.where[i] for i in index.tolist()]
        return {"columns": {k: v[index] for k, v in self.columns.items()}, "where": where}

    def _digest(self, digest: Any) -> None:
        for name in sorted(self.columns):
            digest.update(name.encode() + b"\2")
            for value in self.columns[name]:
                digest.update(b"\1" if value is None else value.encode("utf-8", "surrogatepass") + b"\0")


def cell(value: Any) -> str | None:
    """A raw cell as the table holds it: None when missing, else its text (numbers as written, 3.0 -> '3')."""
    if value is None or isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return None if text.lower() in MISSING else text


def as_number(value: str | None) -> float | None:
    """The cell as a float (NaN for missing); None when it is not a number."""
    if value is None:
        return float("nan")
    try:
        number = float(value)
    except ValueError:
        return None
    return number if np.isfinite(number) else None


@dataclass
class RawTable:
    """A file's header and rows of raw cells, with each row's 1-based line."""

    path: Path
    header: list[str]
    rows: list[list[str | None]]
    lines: list[int]


def _check_header(path: Path, header: list[str]) -> list[str]:
    names = [h.strip() for h in header]
    if not names or names == [""]:
        raise DataError(f"{path}:1: empty header; the first line must name the columns")
    seen: dict[str, int] = {}
    for column, name in enumerate(names, 1):
        if name in seen:
            raise DataError(
                f"{path}:1: column {column} is named '{name}' like column {seen[name]}; "
                "give every column a different name"
            )
        seen[name] = column
    return names


def _read_delimited(path: Path, delimiter: str, stats: ReadStats) -> RawTable:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        try:
            header = next(reader, None)
        except (csv.Error, UnicodeDecodeError) as exc:
            raise DataError(f"{path}:1: unreadable header ({exc}); save the file as UTF-8 CSV") from None
        if header is None:
            raise DataError(f"{path}: is empty; a table needs a header line and rows")
        table = RawTable(path, _check_header(path, header), [], [])
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except (csv.Error, UnicodeDecodeError) as exc:
                stats.skip(f"{path}:{reader.line_num}: unreadable row ({exc})", "fix or re-encode the row as UTF-8")
                continue
            if not row or row == [""]:
                continue
            if len(row) != len(table.header):
                stats.skip(
                    f"{path}:{reader.line_num}: {len(row)} fields where the header names {len(table.header)}",
                    "give every row one field per column (quote fields holding the delimiter)",
                )
                continue
            table.rows.append([cell(v) for v in row])
            table.lines.append(reader.line_num)
    return table


def _read_jsonl(path: Path, stats: ReadStats) -> RawTable:
    records: list[dict[str, Any]] = []
    lines: list[int] = []
    names: dict[str, None] = {}
    with path.open(encoding="utf-8-sig") as handle:
        for line_no, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                stats.skip(f"{path}:{line_no}: not JSON ({exc.msg})", "give one JSON object per line")
                continue
            if not isinstance(record, dict):
                stats.skip(f"{path}:{line_no}: a {type(record).__name__}, not an object", "give one object per line")
                continue
            names.update(dict.fromkeys(record))
            records.append(record)
            lines.append(line_no)
    if not records and not stats.skipped:
        raise DataError(f"{path}: is empty; a JSONL table needs one object per line")
    header = list(names)
    return RawTable(path, header, [[cell(r.get(n)) for n in header] for r in records], lines)


def _read_parquet(path: Path) -> RawTable:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(f"{path}: reading Parquet needs pyarrow; pip install pyarrow (or ptft[parquet])") from None
    try:
        handle = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several kinds for a file that is not Parquet
        raise DataError(f"{path}: not a readable Parquet file ({exc})") from None
    header = _check_header(path, handle.schema_arrow.names)
    table = RawTable(path, header, [], [])
    for batch in handle.iter_batches(batch_size=PARQUET_BATCH_ROWS):
        columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
        for values in zip(*columns, strict=True):
            table.rows.append([cell(v) for v in values])
            table.lines.append(len(table.rows))
    return table


def read_raw(path: str | Path, stats: ReadStats) -> RawTable:
    """A table file's header and rows (bad rows to `stats`); the format from the suffix."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file; check the path")
    form = TABLE_SUFFIXES.get(path.suffix.lower())
    if form is None:
        raise DataError(f"{path}: not a table file; give .csv, .tsv, .jsonl or .parquet")
    if form == "parquet":
        table = _read_parquet(path)
    elif form == "jsonl":
        table = _read_jsonl(path, stats)
    else:
        table = _read_delimited(path, "," if form == "csv" else "\t", stats)
    if not table.rows:
        more = f" after skipping {stats.skipped} bad row(s) (first: {stats.skipped_at[0]})" if stats.skipped else ""
        raise DataError(f"{path}: holds no rows{more}; a table needs a header and at least one row")
    return table


def header_of(path: str | Path) -> list[str] | None:
    """The column names of a table file without reading its rows; None when it cannot be read as one."""
    path = Path(path)
    form = TABLE_SUFFIXES.get(path.suffix.lower())
    try:
        if form in ("csv", "tsv"):
            with path.open(encoding="utf-8-sig", newline="") as handle:
                row = next(csv.reader(handle, delimiter="," if form == "csv" else "\t"), None)
                return [h.strip() for h in row] if row else None
        if form == "jsonl":
            with path.open(encoding="utf-8-sig") as handle:
                first = next((line for line in handle if line.strip()), "")
                record = json.loads(first) if first else None
                return list(record) if isinstance(record, dict) else None
        if form == "parquet":
            import pyarrow.parquet as pq

            return list(pq.ParquetFile(path).schema_arrow.names)
    except (OSError, UnicodeDecodeError, csv.Error, json.JSONDecodeError, ImportError, ValueError):
        return None
    except Exception:  # pyarrow's errors for a file that is not Parquet
        return None
    return None


def infer_kind(values: np.ndarray) -> tuple[str, list[int]]:
    """A column's kind from its raw values, and for a numeric column with stray values the rows holding
    them (a column whose values are at least NUMERIC_SHARE numbers is taken as numeric)."""
    present = [i for i, v in enumerate(values) if v is not None]
    if not present:
        return "numeric", []
    strays = [i for i in present if as_number(values[i]) is None]
    if not strays:
        return "numeric", []
    if {values[i].lower() for i in present} in (BOOLEANS[0], BOOLEANS[1]):
        return "boolean", []
    if len(present) >= 10 and len(strays) <= (1 - NUMERIC_SHARE) * len(present):
        return "numeric", strays
    return "categorical", []


def column_kinds(
    columns: dict[str, np.ndarray], where: list[str], categorical: tuple[str, ...], numeric: tuple[str, ...],
    stats: ReadStats,
) -> tuple[dict[str, str], set[int]]:  # fmt: skip
    """Every column's kind (declared ones as declared) and the rows to drop for stray values in numeric
    columns (each counted by `stats`, which raises once --skip-bad is spent)."""
    kinds: dict[str, str] = {}
    bad: set[int] = set()
    for name, values in columns.items():
        kind, strays = infer_kind(values)
        if name in categorical:
            kind, strays = "categorical", []
        elif name in numeric:
            kind, strays = "numeric", [i for i, v in enumerate(values) if as_number(v) is None]
        for i in strays:
            if i not in bad:
                declared = "declared numeric" if name in numeric else "numeric (its other values are numbers)"
                stats.skip(
                    f"{where[i]}: column '{name}' is {declared} but holds {values[i]!r}",
                    f"fix the value, leave the cell empty (missing), or pass --categorical {name}",
                )
                bad.add(i)
        kinds[name] = kind
    return kinds, bad


def _names(path: Path, header: list[str], names: tuple[str, ...], option: str) -> None:
    unknown = [n for n in names if n not in header]
    if unknown:
        raise DataError(
            f"{path}: {option} names {', '.join(unknown)}, not columns of it; its columns: {', '.join(header)}"
        )


@dataclass(frozen=True)
class TableOptions:
    """How to read a table: which column is the label and which is the row id, which to leave out, and the
    kinds to force."""

    label_column: str = "label"
    id_column: str = ""
    drop_columns: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    numeric: tuple[str, ...] = ()
    skip_bad: int = 0


def read_table(path: str | Path, options: TableOptions, labels: bool = True) -> TableSet:
    """The table at `path` as a TableSet. With `labels`, the label column must be there (its missing cells are
    unlabelled rows); without, a label column that is there is left out of the features all the same."""
    stats = ReadStats(options.skip_bad)
    raw = read_raw(path, stats)
    id_column = (options.id_column,) if options.id_column else ()
    for option, names in (("--drop-columns", options.drop_columns), ("--categorical", options.categorical),
                          ("--numeric", options.numeric), ("--id-column", id_column)):  # fmt: skip
        _names(raw.path, raw.header, names, option)
    label = options.label_column
    if labels and label not in raw.header:
        raise DataError(
            f"{raw.path}: has no label column '{label}'; its columns: {', '.join(raw.header)}; "
            "name the label with --label-column"
        )
    left_out = {label, options.id_column, *options.drop_columns}
    features = [c for c in raw.header if c not in left_out]
    if not features:
        raise DataError(f"{raw.path}: no feature columns left once the label, id and dropped columns are out")
    by_column = dict(zip(raw.header, zip(*raw.rows, strict=True), strict=True))
    columns = {c: np.array(by_column[c], dtype=object) for c in features}
    where = [f"{raw.path}:{line}" for line in raw.lines]
    kinds, bad = column_kinds(columns, where, options.categorical, options.numeric, stats)
    keep = np.array([i for i in range(len(where)) if i not in bad], dtype=np.int64)
    ids = list(by_column[options.id_column]) if options.id_column else where
    table = TableSet(columns, kinds=kinds, where=where, ids=[str(i) for i in ids], source=str(path),
                     skipped=stats.skipped, skipped_at=list(stats.skipped_at))  # fmt: skip
    if labels or label in raw.header:
        classes = sorted({v for v in by_column[label] if v is not None}) if label in raw.header else []
        index = {name: k for k, name in enumerate(classes)}
        table.labels = np.array([-1 if v is None else index[v] for v in by_column[label]], dtype=np.int64)
        table.label_names = classes
    return table.subset(keep) if len(keep) < len(table) else table


def rows_of(table: TableSet) -> Iterator[dict[str, str | None]]:
    """The table's rows as dicts (for tests and small exports)."""
    for i in range(len(table)):
        yield {name: values[i] for name, values in table.columns.items()}

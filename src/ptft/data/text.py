"""Text readers: plain text (one example per line, or one per file in a folder), JSONL, CSV/TSV and Parquet.

Every reader streams: files are read one line at a time and decoded line by line, so a corpus larger
than memory can be iterated; only a folder example (a whole file) is held at once. Files are UTF-8,
with or without a byte-order mark. Undecodable bytes or a malformed line raise a DataError naming the
file and line; with `skip_bad=N` (`--skip-bad N`) up to N such lines are skipped, counted in `ReadStats`
and announced by a warning once the file is done, and the next one is a DataError. Parquet is read in
record batches of PARQUET_BATCH_ROWS rows of the needed columns only (pyarrow, an optional dependency:
`pip install pyarrow` or `ptft[parquet]`); its `line` is the 1-based row number. Readers are registered
by format name in TEXT_READERS.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ptft.config import skip_budget
from ptft.data.types import ReadStats
from ptft.errors import DataError
from ptft.registry import Registry

BOM = b"\xef\xbb\xbf"
SUFFIX_FORMATS = {
    ".txt": "txt", ".text": "txt", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "tsv",
    ".parquet": "parquet",
}  # fmt: skip
SKIP_FIX = "fix or re-encode the file as UTF-8"
PARQUET_BATCH_ROWS = 8192  # rows per Parquet record batch: bounds memory whatever the file size


@dataclass(frozen=True)
class TextExample:
    """One example: its text, its label (None when unlabeled), and where it came from (file, 1-based line)."""

    text: str
    label: str | None
    source: str
    line: int


class TextReader(Protocol):
    """Examples of one file or folder; bad lines go to `stats.skip`, which raises once its limit is spent."""

    def __call__(
        self, path: Path, text_column: str, label_column: str | None, stats: ReadStats
    ) -> Iterator[TextExample]: ...


TEXT_READERS = Registry[TextReader]("text reader")


def read_texts(
    path: str | Path,
    text_column: str = "text",
    label_column: str | None = None,
    skip_bad: int = 0,
    format: str | None = None,
    stats: ReadStats | None = None,
) -> Iterator[TextExample]:
    """Iterate lazily over the examples at `path`.

    The format comes from `format` (one of TEXT_READERS) or else from the path: a folder, or a file
    ending in .txt/.text, .jsonl/.ndjson, .csv, .tsv or .parquet. `text_column`/`label_column` name the
    JSONL keys, CSV/TSV header columns or Parquet columns; plain text has no labels unless a folder has
    one sub-folder per class.
    `skip_bad` bad lines (undecodable, malformed) are skipped and counted; the next one is a DataError
    (0: the first one). Pass a `ReadStats` to learn how many were skipped and where (its limit is set
    to `skip_bad`).
    """
    skip_bad = skip_budget(skip_bad)
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder; check the path")
    if format is None:
        format = "folder" if path.is_dir() else SUFFIX_FORMATS.get(path.suffix.lower())
        if format is None:
            raise DataError(
                f"{path}: cannot tell the text format from the suffix '{path.suffix}'; rename it to one of "
                f"{', '.join(sorted(SUFFIX_FORMATS))} or pass format= one of {', '.join(TEXT_READERS.names())}"
            )
    reader = TEXT_READERS.get(format)
    stats = stats if stats is not None else ReadStats()
    stats.limit = skip_bad
    return reader(path, text_column, label_column, stats)


def decoded_lines(path: Path, stats: ReadStats) -> Iterator[tuple[int, str]]:
    """(line number, text without the line ending) for each line of a UTF-8 file, one line in memory at a time."""
    with path.open("rb") as file:
        for number, raw in enumerate(file, start=1):
            # Slice a view, not the bytes, so one line is held as bytes and str once each, never copied again.
            start = len(BOM) if number == 1 and raw.startswith(BOM) else 0
            end = len(raw) - (2 if raw.endswith(b"\r\n") else 1 if raw.endswith(b"\n") else 0)
            try:
                text = str(memoryview(raw)[start:end], "utf-8")
            except UnicodeDecodeError as error:
                column = start + error.start + 1
                where = f"{path}:{number}: invalid UTF-8 byte {raw[column - 1 : column]!r} at column {column}"
                stats.skip(where, SKIP_FIX)
                continue
            del raw
            yield number, text


@TEXT_READERS.register("txt")
def read_txt(path: Path, text_column: str, label_column: str | None, stats: ReadStats) -> Iterator[TextExample]:
    """One example per non-blank line (blank lines separate nothing and are not examples)."""
    for number, text in decoded_lines(path, stats):
        if text.strip():
            yield TextExample(text, None, str(path), number)


@TEXT_READERS.register("folder")
def read_folder(path: Path, text_column: str, label_column: str | None, stats: ReadStats) -> Iterator[TextExample]:
    """One example per .txt file under `path`, in sorted order; a file in a sub-folder is labelled by its folder."""
    files = sorted(file for file in path.rglob("*.txt") if file.is_file())
    if not files:
        raise DataError(f"{path}: no .txt files found; put one example per .txt file (one sub-folder per class)")
    for file in files:
        lines = [text for _, text in decoded_lines(file, stats)]
        text = "\n".join(lines)
        if not text.strip():
            continue
        label = file.parent.name if file.parent != path else None
        yield TextExample(text, label, str(file), 1)


@TEXT_READERS.register("jsonl")
def read_jsonl(path: Path, text_column: str, label_column: str | None, stats: ReadStats) -> Iterator[TextExample]:
    """One JSON object per line; the text (a string) under `text_column`, the label under `label_column`."""
    for number, line in decoded_lines(path, stats):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            where = f"{path}:{number}: not valid JSON ({error.msg} at column {error.colno})"
            stats.skip(where, "write one JSON object per line")
            continue
        if not isinstance(record, dict):
            raise DataError(f"{path}:{number}: expected a JSON object per line, got {type(record).__name__}")
        yield TextExample(
            column_text(record, text_column, path, number, "text_column"),
            None if label_column is None else column_label(record, label_column, path, number),
            str(path),
            number,
        )


def column_text(record: dict[str, object], column: str, path: Path, number: int, option: str) -> str:
    if column not in record:
        available = ", ".join(repr(key) for key in record) or "none"
        raise DataError(f"{path}:{number}: no column '{column}'; columns: {available}; pass {option}= one of them")
    value = record[column]
    if not isinstance(value, str):
        raise DataError(f"{path}:{number}: column '{column}' holds {type(value).__name__} {value!r}, expected a string")
    return value


def column_label(record: dict[str, object], column: str, path: Path, number: int) -> str | None:
    """A label as a string (numbers become their text form); an empty or null label means unlabeled."""
    if column not in record:
        available = ", ".join(repr(key) for key in record) or "none"
        raise DataError(f"{path}:{number}: no column '{column}'; columns: {available}; pass label_column= one of them")
    value = record[column]
    if value is None or value == "":
        return None
    if isinstance(value, (dict, list)):
        raise DataError(f"{path}:{number}: label column '{column}' holds {type(value).__name__}, expected a value")
    return str(value)


def read_delimited(
    path: Path, delimiter: str, text_column: str, label_column: str | None, stats: ReadStats
) -> Iterator[TextExample]:
    """CSV/TSV with a header row; columns chosen by name. Lines are decoded one at a time and fed to csv."""
    # A long text is a long field; the default limit (131072 characters) would reject it.
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    numbered = decoded_lines(path, stats)
    last_number = 0

    def lines() -> Iterator[str]:
        nonlocal last_number
        for number, text in numbered:
            last_number = number
            yield text + "\n"  # csv needs the line end to keep newlines inside quoted fields

    rows = csv.reader(lines(), delimiter=delimiter)
    try:
        header = next(rows)
    except StopIteration:
        raise DataError(f"{path}: empty file; expected a header row naming the columns") from None
    except csv.Error as error:
        raise DataError(f"{path}:{last_number}: malformed header row ({error}); fix the first line") from None
    for column, option in ((text_column, "text_column"), (label_column, "label_column")):
        if column is not None and column not in header:
            raise DataError(f"{path}:1: no column '{column}'; columns: {', '.join(header)}; pass {option}= one of them")
    text_index = header.index(text_column)
    label_index = None if label_column is None else header.index(label_column)
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except csv.Error as error:
            raise DataError(f"{path}:{last_number}: malformed {delimiter!r}-separated line ({error})") from None
        if not row or not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            where = f"{path}:{last_number}: {len(row)} fields, the header has {len(header)}"
            stats.skip(where, "quote fields that contain the separator")
            continue
        label = None if label_index is None or row[label_index] == "" else row[label_index]
        yield TextExample(row[text_index], label, str(path), last_number)


@TEXT_READERS.register("csv")
def read_csv(path: Path, text_column: str, label_column: str | None, stats: ReadStats) -> Iterator[TextExample]:
    return read_delimited(path, ",", text_column, label_column, stats)


@TEXT_READERS.register("tsv")
def read_tsv(path: Path, text_column: str, label_column: str | None, stats: ReadStats) -> Iterator[TextExample]:
    return read_delimited(path, "\t", text_column, label_column, stats)


@TEXT_READERS.register("parquet")
def read_parquet(path: Path, text_column: str, label_column: str | None, stats: ReadStats) -> Iterator[TextExample]:
    """One example per row, streamed in batches of PARQUET_BATCH_ROWS rows; `line` is the 1-based row number.

    Text and label values follow the JSONL rules: the text must be a string (null is an error), a null or
    empty label means unlabeled, a number label becomes its text form. A file pyarrow cannot read raises
    a DataError whatever the skip budget: a Parquet file has no line to skip.
    """
    try:
        import pyarrow  # optional dependency, imported only when a Parquet file is read
        import pyarrow.parquet as parquet
    except ImportError:
        raise DataError(
            f"{path}: reading Parquet needs pyarrow; install it with `pip install pyarrow` (or `pip install "
            f"ptft[parquet]`), or convert the file to JSONL"
        ) from None
    unreadable = (pyarrow.ArrowException, OSError)
    try:
        file = parquet.ParquetFile(path)
    except unreadable as error:
        raise DataError(f"{path}: not a readable Parquet file ({error}); check the file or its suffix") from None
    with file:
        available = file.schema_arrow.names
        for column, option in ((text_column, "text_column"), (label_column, "label_column")):
            if column is not None and column not in available:
                listed = ", ".join(repr(name) for name in available) or "none"
                raise DataError(f"{path}: no column '{column}'; columns: {listed}; pass {option}= one of them")
        columns = list(dict.fromkeys(column for column in (text_column, label_column) if column is not None))
        number = 0
        batches = file.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=columns)
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                return
            except unreadable as error:  # a corrupt page or row group
                raise DataError(f"{path}: unreadable after row {number} ({error}); re-write the file") from None
            texts = batch.column(text_column).to_pylist()
            labels = batch.column(label_column).to_pylist() if label_column is not None else [None] * len(texts)
            for text, label in zip(texts, labels):
                number += 1
                record: dict[str, object] = {text_column: text}
                if label_column is not None:
                    record[label_column] = label
                yield TextExample(
                    column_text(record, text_column, path, number, "text_column"),
                    None if label_column is None else column_label(record, label_column, path, number),
                    str(path),
                    number,
                )


def columns(path: str | Path) -> list[str]:
    """The column names of a CSV/TSV header, of the first JSON object of a JSONL file, or of a Parquet schema;
    [] for plain text, folders and files that cannot be read this way (their readers then say why)."""
    path = Path(path)
    format = SUFFIX_FORMATS.get(path.suffix.lower()) if path.is_file() else None
    try:
        if format in ("csv", "tsv"):
            with open(path, encoding="utf-8-sig", errors="replace", newline="") as fh:
                return next(csv.reader([fh.readline()], delimiter="," if format == "csv" else "\t"), [])
        if format == "jsonl":
            with open(path, encoding="utf-8-sig", errors="replace") as fh:
                first = next((line for line in fh if line.strip()), "")
            record = json.loads(first) if first else {}
            return [str(key) for key in record] if isinstance(record, dict) else []
        if format == "parquet":
            import pyarrow.parquet as parquet

            return list(parquet.read_schema(path).names)
    except (OSError, ValueError, ImportError):
        return []
    return []

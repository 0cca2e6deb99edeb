"""The Parquet text reader: round trip with labels, JSONL-consistent null and type handling, a missing
column listing the columns, streaming in record batches of the needed columns only, a corrupt file
and pyarrow absent."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

import ptft.data.text as text_module
from ptft.data.text import SUFFIX_FORMATS, TEXT_READERS, read_texts
from ptft.errors import DataError

pyarrow = pytest.importorskip("pyarrow")
parquet = pytest.importorskip("pyarrow.parquet")


def write_table(path: Path, columns: dict[str, list[Any]], row_group_size: int | None = None) -> Path:
    parquet.write_table(pyarrow.table(columns), path, row_group_size=row_group_size)
    return path


def test_round_trip_with_labels_rows_and_registration(tmp_path: Path) -> None:
    assert SUFFIX_FORMATS[".parquet"] == "parquet" and "parquet" in TEXT_READERS.names()
    path = write_table(
        tmp_path / "corpus.parquet",
        {"body": ["今天天气很好", "a dog barked", "", "third"], "class": ["cn", None, "", "en"], "other": [1, 2, 3, 4]},
    )
    examples = list(read_texts(path, text_column="body", label_column="class"))
    assert [example.text for example in examples] == ["今天天气很好", "a dog barked", "", "third"]
    assert [example.label for example in examples] == ["cn", None, None, "en"]  # null and "" mean unlabeled
    assert [example.line for example in examples] == [1, 2, 3, 4]
    assert {example.source for example in examples} == {str(path)}
    assert [example.label for example in read_texts(path, text_column="body")] == [None] * 4


def test_number_labels_become_text_and_nested_labels_fail(tmp_path: Path) -> None:
    path = write_table(tmp_path / "numbers.parquet", {"text": ["a", "b"], "label": [3, None]})
    assert [example.label for example in read_texts(path, label_column="label")] == ["3", None]
    nested = write_table(tmp_path / "nested.parquet", {"text": ["a"], "label": [[1, 2]]})
    with pytest.raises(DataError, match=r"nested.parquet:1: label column 'label' holds list"):
        list(read_texts(nested, label_column="label"))


def test_missing_column_lists_the_available_ones(tmp_path: Path) -> None:
    path = write_table(tmp_path / "corpus.parquet", {"body": ["x"], "class": ["y"]})
    with pytest.raises(DataError, match=r"no column 'text'; columns: 'body', 'class'; pass text_column="):
        list(read_texts(path))
    with pytest.raises(DataError, match=r"no column 'label'; columns: 'body', 'class'; pass label_column="):
        list(read_texts(path, text_column="body", label_column="label"))


def test_null_and_non_string_text_name_the_row(tmp_path: Path) -> None:
    path = write_table(tmp_path / "nulls.parquet", {"text": ["fine", None]})
    with pytest.raises(DataError, match=r"nulls.parquet:2: column 'text' holds NoneType None, expected a string"):
        list(read_texts(path, skip_bad=5))  # like JSONL: skip_bad skips undecodable lines, not wrong values
    numbers = write_table(tmp_path / "numbers.parquet", {"text": [7]})
    with pytest.raises(DataError, match=r"numbers.parquet:1: column 'text' holds int 7"):
        list(read_texts(numbers))


def test_large_file_streams_in_batches_of_needed_columns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = 5_000
    path = write_table(
        tmp_path / "large.parquet",
        {"text": [f"text {index}" for index in range(rows)], "unused": ["x" * 1000] * rows},
        row_group_size=1_500,
    )
    batches: list[tuple[int, list[str]]] = []
    original = parquet.ParquetFile.iter_batches

    def spy(self: Any, batch_size: int = 65536, columns: list[str] | None = None, **kwargs: Any) -> Any:
        for batch in original(self, batch_size=batch_size, columns=columns, **kwargs):
            batches.append((batch.num_rows, list(batch.schema.names)))
            yield batch

    monkeypatch.setattr(parquet.ParquetFile, "iter_batches", spy)
    monkeypatch.setattr(text_module, "PARQUET_BATCH_ROWS", 700)
    stream = read_texts(path)
    first = next(stream)
    assert (first.text, first.line) == ("text 0", 1) and len(batches) == 1  # lazy: one batch read so far
    examples = [first, *stream]
    assert [example.text for example in examples] == [f"text {index}" for index in range(rows)]
    assert [example.line for example in examples] == list(range(1, rows + 1))
    assert len(batches) > rows // 700 and max(size for size, _ in batches) <= 700
    assert all(names == ["text"] for _, names in batches)  # the 5 MB 'unused' column is never read


def test_corrupt_file_and_missing_pyarrow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 this is not a parquet file")
    with pytest.raises(DataError, match=r"broken.parquet: not a readable Parquet file"):
        list(read_texts(path))
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(DataError, match=r"needs pyarrow; install it with `pip install pyarrow`.*ptft\[parquet\]"):
        list(read_texts(path))

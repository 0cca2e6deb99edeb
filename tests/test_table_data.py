"""Reading tables: formats, column kinds, missing values, the label/id/dropped columns, and bad input (ragged
rows, duplicate headers, stray values in numeric columns, empty files) with file, line and column named."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ptft.config import DataConfig
from ptft.data.table import TableOptions, infer_kind, read_table
from ptft.errors import DataError
from ptft.modalities import modality_for, read_data


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_kinds_missing_values_and_labels(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "id,age,city,member,label\nr1,31,Oslo,yes,a\nr2,NA,?,no,b\nr3,45.5,Rome,,\n")
    table = read_table(path, TableOptions(id_column="id"))
    assert list(table.columns) == ["age", "city", "member"]  # the label and the id are not features
    assert table.kinds == {"age": "numeric", "city": "categorical", "member": "boolean"}
    assert list(table.columns["age"]) == ["31", None, "45.5"] and table.columns["city"][1] is None
    assert table.label_names == ["a", "b"] and table.labels is not None and list(table.labels) == [0, 1, -1]
    assert table.ids == ["r1", "r2", "r3"] and table.where[1] == f"{path}:3"


def test_tsv_jsonl_and_parquet_read_alike(tmp_path: Path) -> None:
    tsv = write(tmp_path / "t.tsv", "x\tc\tlabel\n1\tu\tp\n2\tv\tq\n")
    jsonl = write(tmp_path / "t.jsonl", "\n".join(json.dumps(r) for r in
                  [{"x": 1, "c": "u", "label": "p"}, {"x": 2.0, "c": "v", "label": "q"}]) + "\n")  # fmt: skip
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    parquet = tmp_path / "t.parquet"
    pq.write_table(pa.table({"x": [1, 2], "c": ["u", "v"], "label": ["p", "q"]}), parquet)
    for path in (tsv, jsonl, parquet):
        table = read_table(path, TableOptions())
        assert list(table.columns["x"]) == ["1", "2"] and list(table.columns["c"]) == ["u", "v"], path
        assert table.kinds == {"x": "numeric", "c": "categorical"} and table.label_names == ["p", "q"]


def test_declared_kinds_and_dropped_columns(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "zip,score,leak,label\n0101,1,9,a\n0202,2,9,b\n")
    table = read_table(path, TableOptions(categorical=("zip",), drop_columns=("leak",)))
    assert table.kinds == {"zip": "categorical", "score": "numeric"} and list(table.columns["zip"]) == ["0101", "0202"]
    with pytest.raises(DataError, match=r"--drop-columns names lek, not columns of it; its columns: zip, score"):
        read_table(path, TableOptions(drop_columns=("lek",)))


def test_a_stray_string_in_a_numeric_column_names_file_line_and_column(tmp_path: Path) -> None:
    rows = "".join(f"{i},{'oops' if i == 7 else i * 1.5},a\n" for i in range(20))
    path = write(tmp_path / "t.csv", "n,x,label\n" + rows)
    with pytest.raises(DataError, match=rf"{path}:9: column 'x' is numeric .* holds 'oops'.*--categorical x"):
        read_table(path, TableOptions())
    table = read_table(path, TableOptions(skip_bad=1))  # or a counted skip
    assert len(table) == 19 and table.skipped == 1 and table.kinds["x"] == "numeric"
    declared = write(tmp_path / "d.csv", "x,label\n1,a\nfive,b\n")
    with pytest.raises(DataError, match=rf"{declared}:3: column 'x' is declared numeric but holds 'five'"):
        read_table(declared, TableOptions(numeric=("x",)))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,b,label\n1,2,x\n1,2\n", r"t.csv:3: 2 fields where the header names 3"),
        ("a,a,label\n1,2,x\n", r"t.csv:1: column 2 is named 'a' like column 1"),
        ("", r"t.csv: is empty"),
        ("a,b,label\n", r"t.csv: holds no rows"),
        ("a,b\n1,2\n", r"t.csv: has no label column 'label'; its columns: a, b; name the label with --label-column"),
    ],
    ids=["ragged", "duplicate-header", "empty", "header-only", "no-label-column"],
)
def test_bad_tables_are_clear_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        read_table(write(tmp_path / "t.csv", text), TableOptions())


def test_a_ragged_row_can_be_skipped_and_counted(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "a,b,label\n1,2,x\n1,2\n3,4,y\n")
    table = read_table(path, TableOptions(skip_bad=1))
    assert len(table) == 2 and table.skipped == 1 and "t.csv:3" in table.skipped_at[0]


def test_without_labels_the_label_column_is_never_a_feature(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "a,label\n1,x\n2,y\n")
    assert list(read_table(path, TableOptions(), labels=False).columns) == ["a"]
    assert list(read_table(write(tmp_path / "u.csv", "a,b\n1,2\n"), TableOptions(), labels=False).columns) == ["a", "b"]


def test_kind_inference() -> None:
    values = np.array(["1", "2.5", None, "-3e2"], dtype=object)
    assert infer_kind(values) == ("numeric", [])
    assert infer_kind(np.array(["True", "false", None], dtype=object))[0] == "boolean"
    assert infer_kind(np.array(["a", "1"], dtype=object))[0] == "categorical"
    assert infer_kind(np.array([None, None], dtype=object))[0] == "numeric"  # all missing: dropped at fit


def test_the_registry_tells_tables_from_texts_and_image_lists(tmp_path: Path) -> None:
    table = write(tmp_path / "t.csv", "a,b,label\n1,2,x\n")
    text = write(tmp_path / "x.csv", "text,label\nhello there,x\n")
    images = write(tmp_path / "i.csv", "path,label\na.png,x\n")
    assert modality_for(str(table)).name == "table"
    assert modality_for(str(text)).name == "text"
    assert modality_for(str(images)).name == "image"
    loaded = read_data(str(table), options=DataConfig(drop_columns=("b",)))
    assert list(loaded.columns) == ["a"]  # type: ignore[attr-defined]


def test_data_inspect_reports_a_tables_columns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ptft import cli

    path = write(tmp_path / "t.csv", "id,n,c,k,label\nr1,1,a,7,x\nr2,,b,7,y\nr3,3,a,7,x\nr3,3,a,7,x\n")
    assert cli.main(["data", "inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "4 rows, 4 feature columns, 1 exact duplicate rows" in out and "labels: 2 classes (x 3, y 1)" in out
    lines = {line.split()[0]: line for line in out.splitlines()[3:]}
    assert "numeric" in lines["n"] and "25.0%" in lines["n"] and "CONSTANT" in lines["k"]
    assert "categorical" in lines["c"] and "a (3), b (1)" in lines["c"]


def test_kinds_cannot_be_declared_twice() -> None:
    from ptft.errors import ConfigError

    with pytest.raises(ConfigError, match="both --categorical and --numeric"):
        DataConfig(categorical=("a",), numeric=("a",))


def test_the_built_in_tables_have_fixed_stratified_test_splits() -> None:
    from ptft.data.table_builtin import R_TABLES, find_rda

    try:
        find_rda(R_TABLES["letter"], "")
    except DataError as exc:
        pytest.skip(f"the built-in tables are not unpacked here ({exc}); make data-tables unpacks them")
    train, test = read_data("letter"), read_data("letter:test")
    assert (len(train), len(test)) == (15_998, 4_002) and len(train.label_names) == 26
    assert not set(train.ids) & set(test.ids) and train.kinds["x.box"] == "numeric"
    assert train.labels is not None and test.labels is not None
    share = np.bincount(test.labels) / (np.bincount(test.labels) + np.bincount(train.labels))
    assert np.allclose(share, 0.2, atol=0.01)  # every class holds out a fifth
    assert read_data("letter:test").ids == test.ids  # the same split every time
    income = read_data("income")
    assert len(income.label_names) == 9 and set(income.kinds.values()) == {"categorical"}  # type: ignore[attr-defined]
    assert income.columns["UNDER18"].tolist().count(None) > 1000  # type: ignore[attr-defined]

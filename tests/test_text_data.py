"""Text data: readers on tiny files written into tmp_path (Chinese, BOM, invalid UTF-8, missing columns, a
5 MB line), cleaning steps with their report, exact and near de-duplication and leakage removal."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pytest

from ptft.data.cleaning import CleanConfig, clean, garble_reason, remove_control
from ptft.data.dedup import dedup_exact, dedup_near, leakage, shingles
from ptft.data.text import TEXT_READERS, ReadStats, TextExample, read_texts
from ptft.errors import ConfigError, DataError

CHINESE = "今天天气很好，我们去公园散步吧。"
FOX = "the quick brown fox jumps over the lazy dog while the farmer watches from the old barn"


def texts_of(examples: list[TextExample]) -> list[str]:
    return [example.text for example in examples]


# ---- readers ----


def test_registry_names_the_formats() -> None:
    assert TEXT_READERS.names() == ["csv", "folder", "jsonl", "parquet", "tsv", "txt"]
    with pytest.raises(ConfigError, match="available: csv, folder"):
        read_texts(Path(__file__), format="xml")


def test_txt_reads_chinese_and_strips_bom_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "corpus.txt"
    path.write_bytes(b"\xef\xbb\xbf" + f"hello world\r\n\n{CHINESE}\n".encode())
    examples = list(read_texts(path))
    assert texts_of(examples) == ["hello world", CHINESE]
    assert [example.line for example in examples] == [1, 3]
    assert examples[0].label is None and examples[0].source == str(path)


def test_invalid_utf8_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(b"good one\nbad \xff byte\ngood two\n")
    with pytest.raises(DataError, match=r"bad\.txt:2: invalid UTF-8.*re-encode.*--skip-bad N"):
        list(read_texts(path))


def test_invalid_utf8_is_a_counted_skip_with_skip_bad(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(b"good one\nbad \xff byte\ngood two\n\xc3\x28\n")
    stats = ReadStats()
    examples = list(read_texts(path, skip_bad=2, stats=stats))
    assert texts_of(examples) == ["good one", "good two"]
    assert stats.skipped == 2 and ":2:" in stats.skipped_at[0] and ":4:" in stats.skipped_at[1]


def test_skip_bad_is_a_budget_and_the_next_bad_line_fails(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(b"good one\nbad \xff byte\ngood two\n\xc3\x28\nthird \xfe\n")
    stats = ReadStats()
    with pytest.raises(DataError, match=r"bad\.txt:4: invalid UTF-8.*1 bad records were already skipped.*"
                       r"--skip-bad 1.*first: .*bad\.txt:2.*fix the data, or raise --skip-bad"):  # fmt: skip
        list(read_texts(path, skip_bad=1, stats=stats))
    assert stats.skipped == 1 and stats.limit == 1
    assert texts_of(list(read_texts(path, skip_bad=3))) == ["good one", "good two"]


@pytest.mark.parametrize("budget", [-1, True, 1.5, "2"])
def test_skip_bad_must_be_a_whole_number_at_least_zero(tmp_path: Path, budget: object) -> None:
    path = tmp_path / "ok.txt"
    path.write_text("fine\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="number of bad records to skip"):
        read_texts(path, skip_bad=budget)  # type: ignore[arg-type]


def test_folder_one_example_per_file_labelled_by_subfolder(tmp_path: Path) -> None:
    (tmp_path / "pos").mkdir()
    (tmp_path / "neg").mkdir()
    (tmp_path / "pos" / "a.txt").write_text("great film\nloved it", encoding="utf-8")
    (tmp_path / "neg" / "b.txt").write_bytes(b"\xef\xbb\xbf" + "糟糕的电影".encode())
    (tmp_path / "top.txt").write_text("no class", encoding="utf-8")
    examples = list(read_texts(tmp_path))
    assert [(e.text, e.label) for e in examples] == [
        ("糟糕的电影", "neg"),
        ("great film\nloved it", "pos"),
        ("no class", None),
    ]


def test_empty_folder_and_missing_path_are_data_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no .txt files"):
        list(read_texts(tmp_path))
    with pytest.raises(DataError, match="no such file"):
        read_texts(tmp_path / "missing.txt")
    (tmp_path / "data.xml").write_text("x", encoding="utf-8")
    with pytest.raises(DataError, match="cannot tell the text format"):
        read_texts(tmp_path / "data.xml")


def test_jsonl_columns_by_name(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    rows = [{"body": CHINESE, "y": 1}, {"body": "plain", "y": None}, {"body": "third", "y": "neg"}]
    path.write_text("\n".join(json.dumps(row, ensure_ascii=False) for row in rows) + "\n\n", encoding="utf-8-sig")
    examples = list(read_texts(path, text_column="body", label_column="y"))
    assert [(e.text, e.label, e.line) for e in examples] == [(CHINESE, "1", 1), ("plain", None, 2), ("third", "neg", 3)]


def test_jsonl_missing_column_and_bad_json(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text('{"text": "ok"}\n{"body": "no text key"}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"data\.jsonl:2: no column 'text'; columns: 'body'; pass text_column="):
        list(read_texts(path))
    path.write_text('{"text": "ok"}\n{"text": broken\n{"text": "fine"}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"data\.jsonl:2: not valid JSON"):
        list(read_texts(path))
    stats = ReadStats()
    examples = list(read_texts(path, skip_bad=1, stats=stats))
    assert texts_of(examples) == ["ok", "fine"] and stats.skipped == 1


def test_csv_and_tsv_columns_by_name(tmp_path: Path) -> None:
    csv_path = tmp_path / "data.csv"
    csv_path.write_bytes(b'\xef\xbb\xbfid,review,label\n1,"good, really",pos\n2,"two\nlines",neg\n3,unlabelled,\n')
    examples = list(read_texts(csv_path, text_column="review", label_column="label"))
    assert [(e.text, e.label) for e in examples] == [
        ("good, really", "pos"),
        ("two\nlines", "neg"),
        ("unlabelled", None),
    ]
    tsv_path = tmp_path / "data.tsv"
    tsv_path.write_text(f"text\tlabel\n{CHINESE}\t正面\n", encoding="utf-8")
    assert [(e.text, e.label) for e in read_texts(tsv_path, label_column="label")] == [(CHINESE, "正面")]


def test_csv_missing_column_lists_header_and_bad_rows_fail(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("review,label\nfine,pos\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"data\.csv:1: no column 'text'; columns: review, label; pass text_column="):
        list(read_texts(path))
    with pytest.raises(DataError, match="no column 'y'.*pass label_column="):
        list(read_texts(path, text_column="review", label_column="y"))
    path.write_text("text,label\nfine,pos\ntoo,many,fields\nok,neg\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"data\.csv:3: 3 fields, the header has 2"):
        list(read_texts(path))
    stats = ReadStats()
    examples = list(read_texts(path, skip_bad=5, stats=stats))
    assert texts_of(examples) == ["fine", "ok"] and stats.skipped == 1


@pytest.mark.parametrize(("suffix", "copies"), [(".txt", 6), (".jsonl", 6), (".csv", 12)])
def test_five_megabyte_lines_stream_with_bounded_memory(tmp_path: Path, suffix: str, copies: int) -> None:
    """13 lines of 5 MB (65 MB): every line comes back whole, and peak memory stays at a few copies of one
    line (csv's field buffer grows by doubling, hence more), well under the file size."""
    line_chars, lines = 5 * 1024 * 1024, 13
    path = tmp_path / f"big{suffix}"
    with path.open("w", encoding="utf-8") as file:
        file.write("text\n" if suffix == ".csv" else "")
        for number in range(lines):
            text = chr(ord("a") + number) * line_chars
            file.write(json.dumps({"text": text}) + "\n" if suffix == ".jsonl" else text + "\n")
    tracemalloc.start()
    try:
        lengths = [(len(example.text), example.text[0]) for example in read_texts(path)]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert lengths == [(line_chars, chr(ord("a") + number)) for number in range(lines)]
    assert peak < copies * line_chars < path.stat().st_size


# ---- cleaning ----


def test_each_transform_is_switchable_and_reported() -> None:
    texts = ["doesnâ€™t", "ｆｕｌｌ\u3000width", "bell\x07 and\u200b zero", "  many   spaces\t\n"]
    kept, report = clean(texts, CleanConfig())
    assert kept == ["doesn\u2019t", "full width", "bell and zero", "many spaces"]
    assert report.changed["mojibake"] == 1 and report.changed["nfkc"] == 1
    assert report.changed["control"] == 1 and report.chars_removed["control"] == 2
    assert report.changed["whitespace"] == 1  # NFKC already turned U+3000 into a plain space
    raw, untouched = clean(
        texts, CleanConfig(fix_mojibake=False, nfkc=False, strip_control=False, normalize_whitespace=False)
    )
    assert raw == texts and not untouched.changed


def test_filters_drop_with_reasons_and_keep_indices() -> None:
    texts = ["ok text", "x", "a" * 50, "%%%% ### @@@ !!!", "broken \ufffd text", CHINESE, "مرحبا بالعالم", "नमस्ते दुनिया"]
    kept, report = clean(texts, CleanConfig(min_chars=2, max_chars=40))
    assert kept == ["ok text", CHINESE.replace("，", ","), "مرحبا بالعالم", "नमस्ते दुनिया"]
    assert report.kept_indices == [0, 5, 6, 7] and report.seen == 8 and report.kept == 4
    assert report.dropped == {"too_short": 1, "too_long": 1, "garbled_letters": 1, "garbled_replacement": 1}
    assert report.examples["too_short"] == ["x"]
    assert "kept 4 of 8" in report.summary()
    assert garble_reason("zzzzzzzzzzzzzzzz ok") == "repeated"


def test_cleaning_functions_are_pure_and_config_is_checked() -> None:
    text = "tab\tkept\nnewline\x00"
    assert remove_control(text) == "tab\tkept\nnewline" and text.endswith("\x00")
    with pytest.raises(ConfigError, match="max_chars 3 is below min_chars 5"):
        CleanConfig(min_chars=5, max_chars=3)


# ---- de-duplication and leakage ----


def test_exact_duplicates_after_normalisation() -> None:
    texts = ["Hello  World", "hello world", "ＨＥＬＬＯ world", "other", "Other "]
    kept, report = dedup_exact(texts)
    assert kept == ["Hello  World", "other"]
    assert report.duplicate_of == {1: 0, 2: 0, 4: 3} and report.removed == 3 and report.kept == 2


def jaccard(first: str, second: str) -> float:
    a, b = shingles(first), shingles(second)
    return len(a & b) / len(a | b)


def test_near_duplicates_with_known_answer() -> None:
    near = FOX + "!"
    changed = FOX.replace("farmer", "farmers")
    unrelated = "completely different sentence about databases and query planners in production systems"
    assert jaccard(FOX, near) > 0.95 and jaccard(FOX, changed) > 0.85 and jaccard(FOX, unrelated) < 0.1
    kept, report = dedup_near([FOX, unrelated, near, CHINESE, changed, CHINESE + "。"])
    assert kept == [FOX, unrelated, CHINESE]
    assert report.duplicate_of == {2: 0, 4: 0, 5: 3}
    strict, strict_report = dedup_near([FOX, changed], threshold=0.97)
    assert strict == [FOX, changed] and strict_report.removed == 0
    with pytest.raises(ConfigError, match="use dedup_exact"):
        dedup_near([FOX], threshold=1.0)


def test_leakage_removes_pool_texts_seen_in_validation_or_test() -> None:
    held_out = ["a review of the new phone camera and battery life after two weeks of use", CHINESE]
    pool = ["A review of the new phone camera and  battery life after two weeks of use", "fresh unlabeled text",
            CHINESE + "!", "another unrelated pool text about cooking pasta"]  # fmt: skip
    kept, report = leakage(pool, held_out)
    assert kept == ["fresh unlabeled text", "another unrelated pool text about cooking pasta"]
    assert report.exact == {0: 0} and report.near == {2: 1} and report.removed == 2
    assert "removed 2 of 4" in report.summary()
    exact_only, exact_report = leakage(pool, held_out, near=False)
    assert len(exact_only) == 3 and exact_report.near == {}


def test_a_malformed_csv_header_names_the_file(tmp_path: Path) -> None:
    """Found by the long fuzz run: a carriage return inside the header row made csv raise its own error."""
    path = tmp_path / "bad.csv"
    path.write_bytes(b'te"xt\rlabel,"a\n')
    with pytest.raises(DataError, match=r"bad.csv:1: malformed header row"):
        list(read_texts(path))

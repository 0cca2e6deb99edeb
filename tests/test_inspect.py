"""Corpus inspection with known counts (labels, lengths, blanks, exact and near duplicates, what cleaning
would do) and cleaning to a file: content, de-duplication modes, refusing to overwrite, .txt refusing
labels, atomic write."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import ptft.data.inspect as inspect_module
from ptft.data.cleaning import CleanConfig
from ptft.data.inspect import clean_texts_to_file, format_inspection, inspect_texts
from ptft.data.text import TextExample, read_texts
from ptft.errors import ConfigError, DataError

FOX = "the quick brown fox jumps over the lazy dog while the farmer watches from the old barn"


def corpus() -> list[TextExample]:
    """Nine examples: 1 exact duplicate (case and spaces), 1 near duplicate, 1 blank, 1 garbled, 1 control char."""
    rows = [
        (FOX, "animal"),
        ("The  QUICK brown fox jumps over the lazy dog while the farmer watches from the old barn", "animal"),
        (FOX + " today", None),
        ("   ", None),
        ("#### $$$$ %%%% ^^^^ &&&&", None),
        ("a cat\x07 sat on the mat", "animal"),
        ("interest rates rose again this quarter", "finance"),
        ("shares fell sharply", "finance"),
        ("今天天气很好", None),
    ]
    return [TextExample(text, label, "corpus.jsonl", line) for line, (text, label) in enumerate(rows, start=1)]


def test_inspection_known_counts() -> None:
    report = inspect_texts(corpus())
    assert report["examples"] == 9 and report["labelled"] == 5
    assert report["labels"] == {"animal": 3, "finance": 2}
    assert report["blank"] == 1
    assert report["chars"]["min"] == 3 and report["chars"]["max"] == len(FOX) + 6
    assert report["words"]["median"] == 6.0 and report["words"]["max"] == 18  # 0 1 3 5 6 6 17 17 18
    assert report["exact_duplicates"]["count"] == 1 and report["exact_duplicates"]["rate"] == round(1 / 9, 4)
    assert report["exact_duplicates"]["examples"][0].startswith("corpus.jsonl:2: ")
    assert report["near_duplicates"]["count"] == 2  # the exact one and FOX + " today"
    cleaning = report["cleaning"]
    assert cleaning["dropped"] == {"too_short": 1, "garbled_letters": 1} and cleaning["kept"] == 7
    assert cleaning["changed"]["control"] == 1 and cleaning["changed"]["whitespace"] == 2  # the double space, the blank
    assert report["lines_per_second"] > 0


def test_inspection_without_near_and_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inspect_module, "CHUNK_SIZE", 2)  # merged chunk reports equal one report
    whole = inspect_texts(corpus(), near=False)
    assert whole["near_duplicates"] is None
    assert whole["cleaning"]["dropped"] == {"too_short": 1, "garbled_letters": 1}
    assert whole["exact_duplicates"]["count"] == 1
    assert inspect_texts([])["examples"] == 0 and inspect_texts([])["chars"]["max"] == 0


def test_format_inspection_is_readable() -> None:
    text = format_inspection(inspect_texts(corpus()))
    assert "9 (5 labelled, 2 labels)" in text
    assert "animal 3, finance 2" in text
    assert "exact dups  1 (11.11%)" in text
    assert "near dups   2 (22.22%, Jaccard >= 0.8)" in text
    assert "would drop: too_short 1, garbled_letters 1" in text
    assert "not checked" in format_inspection(inspect_texts(corpus(), near=False))


def test_clean_to_jsonl_content_and_report(tmp_path: Path) -> None:
    out = tmp_path / "clean.jsonl"
    report = clean_texts_to_file(corpus(), out)
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert records == [
        {"text": FOX, "label": "animal"},
        {"text": FOX + " today"},
        {"text": "a cat sat on the mat", "label": "animal"},
        {"text": "interest rates rose again this quarter", "label": "finance"},
        {"text": "shares fell sharply", "label": "finance"},
        {"text": "今天天气很好"},
    ]
    assert report["read"] == 9 and report["kept"] == 6 and report["labelled"] == 4
    assert report["removed"] == {"too_short": 1, "garbled_letters": 1, "exact_duplicate": 1}
    assert [example.text for example in read_texts(out)] == [record["text"] for record in records]
    assert list(tmp_path.iterdir()) == [out]  # no temporary file left behind


def test_clean_dedup_modes(tmp_path: Path) -> None:
    near = clean_texts_to_file(corpus(), tmp_path / "near.jsonl", dedup="near")
    assert near["kept"] == 5 and near["removed"]["near_duplicate"] == 2
    none = clean_texts_to_file(corpus(), tmp_path / "none.jsonl", dedup="none")
    assert none["kept"] == 7 and "exact_duplicate" not in none["removed"]
    with pytest.raises(ConfigError, match="dedup 'fuzzy' is unknown; use one of exact, near, none"):
        clean_texts_to_file(corpus(), tmp_path / "x.jsonl", dedup="fuzzy")


def test_refuses_to_overwrite_unless_asked(tmp_path: Path) -> None:
    out = tmp_path / "clean.jsonl"
    out.write_text("precious\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"clean.jsonl: already exists; pass --overwrite"):
        clean_texts_to_file(corpus(), out)
    assert out.read_text(encoding="utf-8") == "precious\n"
    clean_texts_to_file(corpus(), out, overwrite=True)
    assert "precious" not in out.read_text(encoding="utf-8")


def test_txt_output_refuses_labels_and_line_breaks(tmp_path: Path) -> None:
    out = tmp_path / "clean.txt"
    with pytest.raises(DataError, match=r"corpus.jsonl:1 has the label 'animal'.*write to .*clean.jsonl instead"):
        clean_texts_to_file(corpus(), out)
    assert list(tmp_path.iterdir()) == []  # nothing written, no temporary file left
    unlabeled = [TextExample(example.text, None, example.source, example.line) for example in corpus()]
    report = clean_texts_to_file(unlabeled, out)
    assert out.read_text(encoding="utf-8").splitlines()[:2] == [FOX, FOX + " today"] and report["kept"] == 6
    broken = [TextExample("two\nlines", None, "a.txt", 4)]
    with pytest.raises(DataError, match=r"a.txt:4 holds a line break"):
        clean_texts_to_file(broken, tmp_path / "other.txt", CleanConfig(normalize_whitespace=False))
    with pytest.raises(DataError, match=r"cannot write a '.csv' file; name it .jsonl"):
        clean_texts_to_file(unlabeled, tmp_path / "out.csv")
    with pytest.raises(DataError, match=r"does not exist; create it first"):
        clean_texts_to_file(unlabeled, tmp_path / "missing" / "out.jsonl")

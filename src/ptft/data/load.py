"""One entry for every data spec: a built-in name or a path, read as images or as text.

`read_data(spec, ...)` returns an ImageSet or a TextSet. The modality comes from the built-in
dataset, or from the path: .txt/.jsonl/.tsv/.parquet files and folders of .txt files are text,
image folders / .npz / IDX files are images, and a .csv is text when its header has the text column
(otherwise it is an image list `path,label`). With `skip_bad=N` up to N bad records (undecodable or
malformed lines, unreadable images) are skipped; the set returned counts them (`skipped`, `skipped_at`).
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ptft.data.text import SUFFIX_FORMATS, ReadStats, read_texts
from ptft.data.types import ImageSet, TextSet
from ptft.errors import DataError
from ptft.registry import Registry

TEXT_DATASETS = Registry[Callable[[str], TextSet]]("built-in text dataset")


@TEXT_DATASETS.register("wordnet-supersenses")
def _wordnet_train(data_dir: str) -> TextSet:
    from ptft.data.wordnet import wordnet_supersenses

    return wordnet_supersenses(data_dir, "train")


@TEXT_DATASETS.register("wordnet-supersenses:test")
def _wordnet_test(data_dir: str) -> TextSet:
    from ptft.data.wordnet import wordnet_supersenses

    return wordnet_supersenses(data_dir, "test")


def modality_of(spec: str, text_column: str = "text") -> str:
    """'text' or 'image' for a data spec (see the module docstring)."""
    if spec in TEXT_DATASETS:
        return "text"
    path = Path(spec).expanduser()
    suffix = path.suffix.lower()
    if path.is_dir():
        has_text = next(path.rglob("*.txt"), None) is not None
        return "text" if has_text else "image"
    if suffix == ".csv" and path.is_file():
        with open(path, encoding="utf-8-sig", errors="replace", newline="") as fh:
            header = next(csv.reader([fh.readline()]), [])
        return "text" if text_column in header else "image"
    return "text" if suffix in SUFFIX_FORMATS or suffix == ".parquet" else "image"


def read_text_set(
    spec: str,
    data_dir: str = "",
    text_column: str = "text",
    label_column: str | None = "label",
    skip_bad: int = 0,
) -> TextSet:
    """A built-in text dataset, or the texts (and labels, when `label_column` is given) at path `spec`;
    up to `skip_bad` bad lines are skipped and counted in the set's `skipped` and `skipped_at`."""
    if spec in TEXT_DATASETS:
        return TEXT_DATASETS.get(spec)(data_dir)
    stats = ReadStats()
    texts: list[str] = []
    raw_labels: list[str | None] = []
    ids: list[str] = []
    for example in read_texts(spec, text_column, label_column, skip_bad, stats=stats):
        texts.append(example.text)
        raw_labels.append(example.label)
        ids.append(f"{example.source}:{example.line}")
    if not texts and stats.skipped:
        raise DataError(
            f"{spec}: no texts left after skipping {stats.skipped} bad line(s) (first: {stats.skipped_at[0]}); "
            "fix the data"
        )
    if not texts:
        raise DataError(f"{spec}: holds no texts (empty, or every line blank); give a file with one example per line")
    names = sorted({label for label in raw_labels if label is not None})
    index = {name: k for k, name in enumerate(names)}
    labels = np.array([-1 if label is None else index[label] for label in raw_labels], dtype=np.int64)
    return TextSet(
        texts, labels if names else None, names, ids, str(spec), skipped=stats.skipped, skipped_at=stats.skipped_at
    )


def read_data(
    spec: str,
    data_dir: str = "",
    text_column: str = "text",
    label_column: str | None = "label",
    skip_bad: int = 0,
) -> ImageSet | TextSet:
    """Images or texts behind `spec`; see the module docstring for how the modality is chosen."""
    if modality_of(spec, text_column) == "text":
        return read_text_set(spec, data_dir, text_column, label_column, skip_bad)
    from ptft.data.images import read_images

    return read_images(spec, data_dir=data_dir, skip_bad=skip_bad)

"""Text sets by spec: a built-in text dataset by name, or the texts (and labels) of a file or folder.

`read_text_set(spec, ...)` returns a TextSet. With `skip_bad=N` up to N bad records (undecodable or
malformed lines) are skipped; the set counts them (`skipped`, `skipped_at`). Which kind of data a spec
holds is decided by the modality registry (`ptft.modalities`), not here.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ptft.data.text import ReadStats, read_texts
from ptft.data.types import TextSet
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


@TEXT_DATASETS.register("wordnet-verb-supersenses")
def _wordnet_verbs_train(data_dir: str) -> TextSet:
    from ptft.data.wordnet import VERB, wordnet_supersenses

    return wordnet_supersenses(data_dir, "train", VERB)


@TEXT_DATASETS.register("wordnet-verb-supersenses:test")
def _wordnet_verbs_test(data_dir: str) -> TextSet:
    from ptft.data.wordnet import VERB, wordnet_supersenses

    return wordnet_supersenses(data_dir, "test", VERB)


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
        texts,
        labels=labels if names else None,
        label_names=names,
        ids=ids,
        source=str(spec),
        skipped=stats.skipped,
        skipped_at=stats.skipped_at,
    )


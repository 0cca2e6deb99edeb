"""The leakage paths wired into the API: `--holdout` keeps held-out texts out of the pre-training corpus, and
fine-tuning's pool loses the examples that duplicate a training, validation or test example."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ptft.api import FineTuner, Pretrainer
from ptft.data.types import TextSet
from ptft.errors import ConfigError
from tests.conftest import synthetic_texts

TEXT = {"vocab_size": 120, "max_length": 16}


def write_csv(path: Path, texts: list[str], labels: list[str]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        writer.writerows(zip(texts, labels))
    return path


def test_holdout_texts_are_removed_from_the_pretraining_corpus(tmp_path: Path, tiny: dict[str, Any]) -> None:
    corpus = synthetic_texts(40, seed=1).texts
    held = synthetic_texts(6, seed=2).texts
    # three held-out texts hide in the corpus, one of them re-spaced and upper-cased (caught after normalising)
    leaked = [held[0], held[3], "  " + held[5].upper().replace(" ", "   ") + " "]
    (tmp_path / "corpus.txt").write_text("\n".join(corpus[:20] + leaked + corpus[20:]) + "\n")
    (tmp_path / "held.txt").write_text("\n".join(held) + "\n")
    run = tmp_path / "run"
    options = {**tiny, **TEXT, "steps": 1}
    Pretrainer(out=str(run), holdout=str(tmp_path / "held.txt"), **options).fit(str(tmp_path / "corpus.txt"))
    data = json.loads((run / "ptft.json").read_text())["data"]
    assert data["leakage"]["removed"] == 3 and data["read"] == 43 and data["kept"] == 40 and data["n"] == 40
    Pretrainer(out=str(tmp_path / "without"), **options).fit(str(tmp_path / "corpus.txt"))
    assert json.loads((tmp_path / "without" / "ptft.json").read_text())["data"]["n"] == 43  # no --holdout: kept


def test_the_finetuning_pool_loses_copies_of_labelled_and_test_texts(tmp_path: Path, tiny: dict[str, Any]) -> None:
    labelled = synthetic_texts(24, seed=3)  # 4 classes x 6
    test = synthetic_texts(8, seed=4)
    assert labelled.labels is not None and test.labels is not None
    unique = synthetic_texts(10, seed=5).texts
    # the unlabeled pool: a copy of every labelled text, of five test texts, and ten texts of its own
    pool = labelled.texts + test.texts[:5] + unique
    data = TextSet(
        labelled.texts + pool,
        labels=np.concatenate([labelled.labels, np.full(len(pool), -1)]),
        label_names=labelled.label_names,
        source="leaky",
    )
    names = [labelled.label_names[k] for k in test.labels]
    test_csv = write_csv(tmp_path / "test.csv", test.texts, names)
    tuner = FineTuner(
        out=str(tmp_path / "ft"), labels_per_class=2, val_per_class=2, test=str(test_csv), steps=1, **tiny, **TEXT
    ).fit(data)
    # train + validation hold 4 x (2 + 2) = 16 labelled texts: their 16 copies and the 5 test copies go; the
    # copies of the 8 labelled texts left in the pool, and the 10 texts of its own, stay
    assert tuner.metrics_["pool_leakage_removed"] == 16 + 5
    assert tuner.metrics_["train_labels"] == 8 and tuner.metrics_["val_labels"] == 8


def test_a_holdout_of_another_kind_is_refused(tmp_path: Path, tiny: dict[str, Any], npz_path: Path) -> None:
    (tmp_path / "corpus.txt").write_text("\n".join(synthetic_texts(20).texts) + "\n")
    with pytest.raises(ConfigError, match="--holdout .*tiny.npz is not text"):
        Pretrainer(out=str(tmp_path / "run"), holdout=str(npz_path), steps=1, **tiny, **TEXT).fit(
            str(tmp_path / "corpus.txt")
        )
    with pytest.raises(ConfigError, match="--holdout removes held-out texts from a text corpus"):
        Pretrainer(out=str(tmp_path / "run"), holdout=str(tmp_path / "corpus.txt"), steps=1, **tiny).fit(
            str(npz_path)
        )
    assert not (tmp_path / "run").exists()

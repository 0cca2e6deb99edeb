"""Shared fixtures: tiny synthetic image sets whose class is decodable from the pixels, tiny model options.

The 4 classes are (top | bottom half) x (small square | full-width bar). Unlike "which quadrant", this
survives the horizontal flips and mild crops of fine-tuning augmentation, so fine-tuning can learn it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from ptft.data.types import ImageSet, TextSet

# Tiny models on a 2-core machine: with torch's default thread pool each small op pays a large
# synchronisation cost (measured ~100x slower for a 16x8x16x16 batch norm); one thread is fastest.
torch.set_num_threads(1)

LABEL_NAMES = ["top-square", "top-bar", "bottom-square", "bottom-bar"]


def synthetic_images(n: int = 128, size: int = 16, seed: int = 0, labelled: bool = True) -> ImageSet:
    """uint8 (n, 1, size, size): dark noise plus a bright square or bar in the top or bottom half.

    Class k = 2 * half + shape (half: 0 top, 1 bottom; shape: 0 square, 1 bar); classes are balanced.
    """
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 4
    images = rng.integers(0, 60, (n, 1, size, size)).astype(np.uint8)
    half, quarter, eighth = size // 2, size // 4, size // 8
    for i, label in enumerate(labels):
        top, bar = divmod(int(label), 2)
        rows = slice(top * half + eighth, top * half + half - eighth)
        cols = slice(0, size) if bar else slice(quarter + eighth, size - quarter - eighth)
        images[i, 0, rows, cols] = rng.integers(200, 256)
    if not labelled:
        return ImageSet(images, None, [], source="synthetic")
    return ImageSet(images, labels.astype(np.int64), list(LABEL_NAMES), source="synthetic")


@pytest.fixture(scope="session")
def labelled_images() -> ImageSet:
    """128 labelled 1x16x16 images, 32 per class (do not modify: shared by the whole session)."""
    return synthetic_images()


@pytest.fixture
def make_images() -> Callable[..., ImageSet]:
    return synthetic_images


@pytest.fixture
def npz_path(tmp_path: Path, labelled_images: ImageSet) -> Path:
    """The labelled set as a .npz (images, labels, label_names) a reader and the CLI accept."""
    path = tmp_path / "tiny.npz"
    np.savez(
        path,
        images=labelled_images.images,
        labels=labelled_images.labels,
        label_names=np.array(labelled_images.label_names),  # a str array: loads without pickle
    )
    return path


@pytest.fixture
def tiny() -> dict[str, Any]:
    """Options for a tiny, quick, deterministic run (a fresh dict per test)."""
    return {"dim": 16, "depth": 2, "heads": 2, "batch_size": 8, "progress": False, "precision": "fp32"}


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "logs" / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line]


@pytest.fixture
def metrics() -> Callable[[Path], list[dict[str, Any]]]:
    """Reads a run's logs/metrics.jsonl as a list of dicts."""
    return read_metrics


TOPICS = {
    "animal": ["cat", "dog", "horse", "cow", "lion", "tiger", "otter", "goat"],
    "tool": ["hammer", "saw", "drill", "wrench", "chisel", "pliers", "rasp", "file"],
    "food": ["bread", "apple", "rice", "soup", "cheese", "pasta", "plum", "pear"],
    "place": ["city", "river", "valley", "harbour", "forest", "desert", "island", "village"],
}
FILLER = ["the", "a", "near", "with", "big", "small", "old", "new", "and", "then", "over", "under"]


def synthetic_texts(n: int = 128, seed: int = 0, labelled: bool = True) -> TextSet:
    """Short sentences whose class is the topic of their content words; balanced, all distinct."""
    rng = np.random.default_rng(seed)
    names = sorted(TOPICS)
    labels = np.arange(n) % len(names)
    texts = []
    for i, label in enumerate(labels):
        words = [str(w) for w in rng.choice(TOPICS[names[label]], 3)] + [str(w) for w in rng.choice(FILLER, 4)]
        rng.shuffle(words)
        texts.append(" ".join(words) + f" {i}")
    if not labelled:
        return TextSet(texts, None, [], source="synthetic-text")
    return TextSet(texts, labels.astype(np.int64), names, source="synthetic-text")


@pytest.fixture(scope="session")
def labelled_texts() -> TextSet:
    return synthetic_texts()

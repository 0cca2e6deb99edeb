"""Shared fixtures: tiny synthetic image sets whose class is decodable from the pixels, tiny model options.

The 4 classes are (top | bottom half) x (small square | full-width bar). Unlike "which quadrant", this
survives the horizontal flips and mild crops of fine-tuning augmentation, so fine-tuning can learn it.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import socket
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

from ptft.config import DataConfig
from ptft.data.table import TableSet
from ptft.data.types import ImageSet, TextSet
from ptft.preprocess import TextPipeline

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
        return ImageSet(images, source="synthetic")
    return ImageSet(images, labels=labels.astype(np.int64), label_names=list(LABEL_NAMES), source="synthetic")


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
        return TextSet(texts, source="synthetic-text")
    return TextSet(texts, labels=labels.astype(np.int64), label_names=names, source="synthetic-text")


def synthetic_table(n: int = 128, seed: int = 0, shift: float = 0.0, labelled: bool = True) -> TableSet:
    """Rows of two numbers (one with gaps), a category, a boolean and a noise column; the class (3 of them) is
    which third of the first number's range the row falls in, the category agreeing with it most of the time."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    x = labels * 2.0 + rng.normal(0, 0.5, n) + shift
    colour = np.where(rng.random(n) < 0.8, np.array(["red", "green", "blue"])[labels], "grey")
    cells: dict[str, list[str | None]] = {
        "size": [f"{v:.3f}" for v in x],
        "weight": [None if i % 7 == 3 else f"{v:.2f}" for i, v in enumerate(rng.normal(5, 2, n))],
        "colour": [str(c) for c in colour],
        "fresh": [str(b) for b in np.where(rng.random(n) < 0.5, "yes", "no")],
        "noise": [f"{v:.4f}" for v in rng.normal(size=n)],
    }
    columns = {k: np.array(v, dtype=object) for k, v in cells.items()}
    kinds = {"size": "numeric", "weight": "numeric", "colour": "categorical", "fresh": "boolean", "noise": "numeric"}
    names = ["high", "low", "mid"]
    order = np.array([1, 2, 0])[labels]  # low, mid, high by size; label names sorted as a reader sorts them
    if not labelled:
        return TableSet(columns, kinds=kinds, source="synthetic-table")
    return TableSet(columns, kinds=kinds, labels=order.astype(np.int64), label_names=names, source="synthetic-table")


def write_table_csv(table: TableSet, path: Path, id_column: str = "") -> Path:
    """The table as a CSV with a `label` column (and an id column named `id_column`)."""
    import csv

    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([*([id_column] if id_column else []), *table.columns, "label"])
        for i in range(len(table)):
            label = "" if table.labels is None else table.label_names[int(table.labels[i])]
            values = ["" if v[i] is None else v[i] for v in table.columns.values()]
            writer.writerow([*([f"row{i}"] if id_column else []), *values, label])
    return path


@pytest.fixture(scope="session")
def labelled_texts() -> TextSet:
    return synthetic_texts()


def fit_text_pipeline(texts: TextSet, options: DataConfig) -> TextPipeline:
    """The text modality's preprocessing, fitted on `texts` as a run fits it."""
    from ptft.modalities import MODALITIES

    fitted = MODALITIES.get("text").fit_preprocessor(texts, options)
    assert isinstance(fitted, TextPipeline)
    return fitted


# ---- file writers and helpers shared by several test modules ----

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Pre-training on unlabeled data helps fine-tuning.",
    "Tokenizers split words into subword units.",
    "Hello world, hello tokenizers, hello again!",
    "A small model learns quickly on a small corpus.",
    "Attention is all you need, or so they say.",
    "Masked language models predict hidden words.",
    "Fine-tuning adapts a pre-trained encoder to a task.",
    "The dog sleeps while the fox runs away.",
    "Every sentence here is short and plain.",
]
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def write_tokenizer(path: Path, specials: list[str] = SPECIALS) -> None:
    """A tiny lowercasing BERT WordPiece tokenizer, saved with fixed padding/truncation ptft must replace."""
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(vocab_size=200, special_tokens=specials, show_progress=False)
    tokenizer.train_from_iterator(SENTENCES * 2, trainer=trainer)
    if "[CLS]" in specials and "[SEP]" in specials:
        tokenizer.post_processor = processors.BertProcessing(
            ("[SEP]", tokenizer.token_to_id("[SEP]")), ("[CLS]", tokenizer.token_to_id("[CLS]"))
        )
    tokenizer.enable_truncation(6)
    tokenizer.enable_padding(length=40, pad_id=0, pad_token="[PAD]")
    tokenizer.save(str(path))


def write_tiny_bert(folder: Path) -> Any:
    """A random tiny BertModel saved by transformers (config.json, model.safetensors, tokenizer.json) into
    `folder`; returns the model (in eval mode). Skips the test when transformers is not installed."""
    transformers = pytest.importorskip("transformers")
    folder.mkdir(parents=True, exist_ok=True)
    write_tokenizer(folder / "tokenizer.json")
    vocab_size = Tokenizer.from_file(str(folder / "tokenizer.json")).get_vocab_size()
    config = transformers.BertConfig(
        vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=64, pad_token_id=0,
    )  # fmt: skip
    torch.manual_seed(0)
    model = transformers.BertModel(config).eval()
    model.save_pretrained(folder, safe_serialization=True)
    return model


def write_idx(path: Path, array: np.ndarray) -> Path:
    """An IDX file of a uint8 array (gzipped if the name ends in .gz), as MNIST ships them."""
    data = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    data += array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


HEADER = [
    "  1 This software and database is being provided to you, the LICENSEE, by  ",
    "  2 Princeton University under the following license.  ",
]


def write_noun_file(folder: Path, lines: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "data.noun"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def synthetic_lines(per_class: dict[int, int]) -> list[str]:
    """`per_class[lex_filenum]` synsets per class; each has its own example and a shared one."""
    lines, offset = list(HEADER), 10_000_000
    for lex_filenum, count in per_class.items():
        for index in range(count):
            offset += 100
            gloss = f'definition {lex_filenum}-{index}; "example {lex_filenum}-{index}"; "a shared example"'
            lines.append(f"{offset:08d} {lex_filenum:02d} n 01 word{offset} 0 000 | {gloss}  ")
    return lines


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def explain(done: subprocess.CompletedProcess[str]) -> str:
    return f"torchrun exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def write_png(path: Path, pixels: np.ndarray) -> Path:
    """A PNG of uint8 (H, W) gray or (H, W, 3) RGB pixels."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


BENCH = Path(__file__).resolve().parent.parent / "bench"


def bench_module(name: str) -> Any:
    """bench/`name`.py imported as a module (the bench scripts are not a package; they import their `_common`)."""
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))

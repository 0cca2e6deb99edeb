"""Built-in datasets, loaded by name: Fashion-MNIST (Xiao, Rasul & Vollgraf 2017, arXiv:1708.07747)
from its four IDX files, and scikit-learn's 8x8 handwritten digits, which need no download.

`load_builtin(name, data_dir)` returns an ImageSet like every reader; BUILTIN_NAMES lists the names.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ptft.data.images import read_idx
from ptft.data.types import ImageSet
from ptft.errors import DataError
from ptft.registry import Registry

FASHION_MNIST_LABELS = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip
FASHION_MNIST_FILES = (
    "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz"
)
DEBIAN_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian package dataset-fashion-mnist

DATASETS = Registry[Callable[[str], ImageSet]]("built-in dataset")


def fashion_mnist_dir(data_dir: str = "") -> tuple[Path, str]:
    """The folder to look in for Fashion-MNIST, and what chose it: data_dir, $PTFT_DATA_DIR or the default."""
    if data_dir:
        return Path(data_dir).expanduser(), "--data-dir"
    if os.environ.get("PTFT_DATA_DIR"):
        return Path(os.environ["PTFT_DATA_DIR"]).expanduser(), "$PTFT_DATA_DIR"
    return DEBIAN_FASHION_MNIST_DIR, "the default folder"


def _find_idx(folder: Path, stem: str) -> Path | None:
    """`folder/stem.gz` or `folder/stem`, whichever exists first."""
    return next((folder / name for name in (stem + ".gz", stem) if (folder / name).is_file()), None)


def _load_fashion_mnist(split: str, data_dir: str) -> ImageSet:
    """One split ("train" or "t10k") from `root` or `root/fashion-mnist`."""
    root, chosen_by = fashion_mnist_dir(data_dir)
    folders = [root, root / "fashion-mnist"]
    for folder in folders:
        images = _find_idx(folder, f"{split}-images-idx3-ubyte")
        if images is not None and _find_idx(folder, f"{split}-labels-idx1-ubyte") is not None:
            return read_idx(images, label_names=FASHION_MNIST_LABELS)
    raise DataError(
        f"fashion-mnist: no {split}-images-idx3-ubyte[.gz] with its {split}-labels-idx1-ubyte[.gz] in "
        f"{' or '.join(map(str, folders))} (folder from {chosen_by}); install them with "
        f"`sudo apt-get install dataset-fashion-mnist`, or pass --data-dir (or set $PTFT_DATA_DIR) to a "
        f"folder holding the four IDX files: {FASHION_MNIST_FILES}"
    )


@DATASETS.register("fashion-mnist")
def fashion_mnist_train(data_dir: str) -> ImageSet:
    """Fashion-MNIST's 60,000 training images, uint8 (60000, 1, 28, 28), ten clothing classes."""
    return _load_fashion_mnist("train", data_dir)


@DATASETS.register("fashion-mnist:test")
def fashion_mnist_test(data_dir: str) -> ImageSet:
    """Fashion-MNIST's 10,000 test images, uint8 (10000, 1, 28, 28)."""
    return _load_fashion_mnist("t10k", data_dir)


@DATASETS.register("digits")
def digits(data_dir: str) -> ImageSet:
    """scikit-learn's 1,797 8x8 handwritten digits (UCI), 0..16 scaled to 0..255; data_dir is unused."""
    from sklearn.datasets import load_digits  # imported here: scikit-learn is slow to import

    bunch = load_digits()
    images = np.rint(bunch.images * (255 / 16)).astype(np.uint8)[:, None]  # (1797, 1, 8, 8)
    labels = bunch.target.astype(np.int64)
    return ImageSet(images, labels=labels, label_names=[str(k) for k in range(10)], source="sklearn:digits")


BUILTIN_NAMES: tuple[str, ...] = tuple(DATASETS.names())


def load_builtin(name: str, data_dir: str = "") -> ImageSet:
    """The built-in dataset `name` (one of BUILTIN_NAMES); an unknown name lists the known ones."""
    return DATASETS.get(name)(data_dir)

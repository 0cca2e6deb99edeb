"""Images larger than memory: a uint8 (N, C, H, W) `.npy` file memory-mapped, normalised batch by batch.

Pre-training from `--data images.npy` never holds the float copy of the whole set (4 bytes per pixel):
the normaliser is fitted on a seeded sample of FIT_SAMPLE images, and each batch is read from the map
and normalised when the batch stream asks for it. Loaded with allow_pickle=False.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ptft.data.batch import Batch
from ptft.errors import DataError
from ptft.preprocess.image import ImageNormalizer

FIT_SAMPLE = 20_000


class MappedImages:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            array = np.load(self.path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise DataError(f"{self.path}: not a readable .npy array ({exc})") from None
        if array.ndim == 3:
            array = array[:, None]  # (N, H, W): one channel
        if array.dtype != np.uint8 or array.ndim != 4 or len(array) == 0:
            raise DataError(
                f"{self.path}: expected uint8 images shaped (N, C, H, W) or (N, H, W), got {array.dtype} "
                f"{array.shape}; save them with numpy.save(path, images.astype(numpy.uint8))"
            )
        self.array = array
        self.normalizer: ImageNormalizer | None = None
        self.source = str(self.path)

    def __len__(self) -> int:
        return len(self.array)

    def fit(self, seed: int = 0) -> ImageNormalizer:
        """Fit the normaliser on a seeded sample and use it for every batch from now on."""
        n = min(len(self), FIT_SAMPLE)
        index = np.sort(np.random.default_rng(seed).choice(len(self), n, replace=False))
        self.normalizer = ImageNormalizer().fit(np.asarray(self.array[index]))
        return self.normalizer

    def __getitem__(self, index: torch.Tensor) -> Batch:
        if self.normalizer is None:
            raise RuntimeError("MappedImages: call fit() before reading batches")
        return self.normalizer.batch(np.asarray(self.array[index.numpy()]))

"""The in-memory forms the readers return: ImageSet for images, TextSet for texts."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np


@dataclass
class ImageSet:
    """Images as uint8 (N, C, H, W), optional integer labels, and where each image came from.

    `labels[i] == -1` marks an unlabeled image. `label_names[k]` is the name of class k.
    `ids[i]` names the image for reports (a path, or `file.idx#row`).
    """

    images: np.ndarray  # uint8 (N, C, H, W)
    labels: np.ndarray | None = None  # int64 (N,), -1 = unlabeled
    label_names: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    source: str = ""

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.dtype != np.uint8:
            raise ValueError(f"ImageSet wants uint8 (N, C, H, W), got {self.images.dtype} {self.images.shape}")
        if self.labels is not None and len(self.labels) != len(self.images):
            raise ValueError("labels and images differ in length")
        if not self.ids:
            self.ids = [f"{self.source}#{i}" for i in range(len(self.images))]

    def __len__(self) -> int:
        return len(self.images)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        _, c, h, w = self.images.shape
        return (c, h, w)

    @property
    def has_labels(self) -> bool:
        return self.labels is not None and bool((self.labels >= 0).any())

    def subset(self, index: np.ndarray) -> ImageSet:
        return ImageSet(
            images=self.images[index],
            labels=None if self.labels is None else self.labels[index],
            label_names=list(self.label_names),
            ids=[self.ids[i] for i in index.tolist()],
            source=self.source,
        )

    def fingerprint(self) -> str:
        """sha256 over pixels and labels: identifies the data a bundle was trained on."""
        digest = hashlib.sha256(self.images.tobytes())
        if self.labels is not None:
            digest.update(self.labels.astype(np.int64).tobytes())
        return digest.hexdigest()


@dataclass
class TextSet:
    """Texts, optional integer labels (-1 = unlabeled), class names, and where each text came from.

    The text counterpart of ImageSet: `ids[i]` names the example for reports (`file:line`).
    """

    texts: list[str]
    labels: np.ndarray | None = None  # int64 (N,), -1 = unlabeled
    label_names: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    source: str = ""

    def __post_init__(self) -> None:
        if self.labels is not None and len(self.labels) != len(self.texts):
            raise ValueError("labels and texts differ in length")
        if not self.ids:
            self.ids = [f"{self.source}#{i}" for i in range(len(self.texts))]

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def has_labels(self) -> bool:
        return self.labels is not None and bool((self.labels >= 0).any())

    def subset(self, index: np.ndarray) -> TextSet:
        return TextSet(
            texts=[self.texts[i] for i in index.tolist()],
            labels=None if self.labels is None else self.labels[index],
            label_names=list(self.label_names),
            ids=[self.ids[i] for i in index.tolist()],
            source=self.source,
        )

    def fingerprint(self) -> str:
        """sha256 over the texts and labels: identifies the data a bundle was trained on."""
        digest = hashlib.sha256()
        for text in self.texts:
            digest.update(text.encode("utf-8", "surrogatepass") + b"\0")
        if self.labels is not None:
            digest.update(self.labels.astype(np.int64).tobytes())
        return digest.hexdigest()

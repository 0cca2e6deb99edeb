"""The in-memory forms the readers return: ImageSet for images, TextSet for texts, and ReadStats, the
bounded count of bad records (undecodable or malformed lines, unreadable images) a read skipped."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ptft.config import skip_budget
from ptft.errors import DataError

MAX_SKIPS_KEPT = 20  # places of skipped records remembered in ReadStats and the sets (the count is always exact)


class Skipped(Protocol):
    """What counts the bad records a read skipped: ReadStats, the sets, a prepared corpus."""

    skipped: int
    skipped_at: list[str]


def skip_report(source: Skipped | None) -> dict[str, Any]:
    """`{"skipped": n, "skipped_at": [...]}` for a report when `source` skipped bad records, else {}."""
    if source is None or not source.skipped:
        return {}
    return {"skipped": source.skipped, "skipped_at": list(source.skipped_at)}


@dataclass
class ReadStats:
    """The bad records a read skipped: at most `limit` (--skip-bad N; 0 = the first one is an error),
    counted exactly, the first MAX_SKIPS_KEPT places (`file:line: what is wrong`) kept."""

    limit: int = 0
    skipped: int = 0
    skipped_at: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        skip_budget(self.limit)

    def skip(self, where: str, fix: str) -> None:
        """Count the bad record at `where`, or raise a DataError naming it once the budget is spent.
        `fix` says how to repair this kind of record (used when no skipping was asked for)."""
        # `from None`: raised while the reader handles the decoding error, which says nothing more.
        if self.skipped >= self.limit:
            if not self.limit:
                fix += ", or pass --skip-bad N to skip and count up to N bad records"
                raise DataError(f"{where}; {fix}") from None
            raise DataError(
                f"{where}; {self.skipped} bad records were already skipped, the most --skip-bad {self.limit} "
                f"allows (first: {self.skipped_at[0]}); fix the data, or raise --skip-bad"
            ) from None
        self.skipped += 1
        if len(self.skipped_at) < MAX_SKIPS_KEPT:
            self.skipped_at.append(where)


@dataclass
class ImageSet:
    """Images as uint8 (N, C, H, W), optional integer labels, and where each image came from.

    `labels[i] == -1` marks an unlabeled image. `label_names[k]` is the name of class k.
    `ids[i]` names the image for reports (a path, or `file.idx#row`). `skipped` counts the unreadable
    images the read left out (--skip-bad N), `skipped_at` names the first MAX_SKIPS_KEPT of them.
    """

    images: np.ndarray  # uint8 (N, C, H, W)
    labels: np.ndarray | None = None  # int64 (N,), -1 = unlabeled
    label_names: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    source: str = ""
    skipped: int = 0  # bad records left out by the read
    skipped_at: list[str] = field(default_factory=list)  # the first places of those

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
            skipped=self.skipped,  # the counts describe the read, not the examples kept
            skipped_at=list(self.skipped_at),
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

    The text counterpart of ImageSet: `ids[i]` names the example for reports (`file:line`); `skipped`
    and `skipped_at` the bad lines the read left out (--skip-bad N).
    """

    texts: list[str]
    labels: np.ndarray | None = None  # int64 (N,), -1 = unlabeled
    label_names: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    source: str = ""
    skipped: int = 0  # bad records left out by the read
    skipped_at: list[str] = field(default_factory=list)  # the first places of those

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
            skipped=self.skipped,  # the counts describe the read, not the examples kept
            skipped_at=list(self.skipped_at),
        )

    def fingerprint(self) -> str:
        """sha256 over the texts and labels: identifies the data a bundle was trained on."""
        digest = hashlib.sha256()
        for text in self.texts:
            digest.update(text.encode("utf-8", "surrogatepass") + b"\0")
        if self.labels is not None:
            digest.update(self.labels.astype(np.int64).tobytes())
        return digest.hexdigest()

"""The in-memory forms the readers return: `Examples`, the base every kind shares (labels, ids, source, skipped
records), ImageSet for images, TextSet for texts, and ReadStats, the bounded count of bad records (undecodable
or malformed lines, unreadable images) a read skipped."""

from __future__ import annotations

import dataclasses
import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Protocol, Self

import numpy as np

from ptft.config import skip_budget
from ptft.errors import DataError
from ptft.notes import note

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


def note_skips(report: dict[str, Any], listed_in: str) -> None:
    """One note for each part of a data report (the data, its "test" part) whose read skipped bad records."""
    for part in (report, report.get("test") or {}):
        if part.get("skipped"):
            note(
                f"skipped {part['skipped']} bad record(s) of {part['source']} (--skip-bad), first: "
                f'{part["skipped_at"][0]}; listed under "data" in {listed_in}'
            )


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


@dataclass(kw_only=True)
class Examples(ABC):
    """What every kind of examples carries besides its content: optional integer labels (`labels[i] == -1`
    marks an unlabeled example), class names (`label_names[k]` names class k), `ids[i]` naming each example
    for reports (a path, `file:line`, `file.idx#row`), the source it was read from, and the bad records the
    read left out (--skip-bad N: `skipped` counts them, `skipped_at` names the first MAX_SKIPS_KEPT).

    A kind of examples adds its content field (ImageSet.images, TextSet.texts) and three methods."""

    labels: np.ndarray | None = None  # int64 (N,), -1 = unlabeled
    label_names: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    source: str = ""
    skipped: int = 0  # bad records left out by the read
    skipped_at: list[str] = field(default_factory=list)  # the first places of those

    def __post_init__(self) -> None:
        if self.labels is not None and len(self.labels) != len(self):
            raise ValueError(f"{type(self).__name__}: {len(self.labels)} labels for {len(self)} examples")
        if not self.ids:
            self.ids = [f"{self.source}#{i}" for i in range(len(self))]

    def __len__(self) -> int:
        return self._count()

    @abstractmethod
    def _count(self) -> int:
        """How many examples there are."""

    @abstractmethod
    def _take(self, index: np.ndarray) -> dict[str, Any]:
        """The content fields of the examples at `index`."""

    @abstractmethod
    def _digest(self, digest: Any) -> None:
        """Feed the content into a hashlib digest."""

    @property
    def has_labels(self) -> bool:
        return self.labels is not None and bool((self.labels >= 0).any())

    def subset(self, index: np.ndarray) -> Self:
        return dataclasses.replace(
            self,
            **self._take(index),
            labels=None if self.labels is None else self.labels[index],
            label_names=list(self.label_names),
            ids=[self.ids[i] for i in index.tolist()],
            skipped_at=list(self.skipped_at),  # the counts describe the read, not the examples kept
        )

    def fingerprint(self) -> str:
        """sha256 over the content and labels: identifies the data a bundle was trained on."""
        digest = hashlib.sha256()
        self._digest(digest)
        if self.labels is not None:
            digest.update(self.labels.astype(np.int64).tobytes())
        return digest.hexdigest()


@dataclass
class ImageSet(Examples):
    """Images as uint8 (N, C, H, W)."""

    images: np.ndarray  # uint8 (N, C, H, W)

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.dtype != np.uint8:
            raise ValueError(f"ImageSet wants uint8 (N, C, H, W), got {self.images.dtype} {self.images.shape}")
        super().__post_init__()

    def _count(self) -> int:
        return len(self.images)

    def _take(self, index: np.ndarray) -> dict[str, Any]:
        return {"images": self.images[index]}

    def _digest(self, digest: Any) -> None:
        digest.update(self.images.tobytes())

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        _, c, h, w = self.images.shape
        return (c, h, w)


@dataclass
class TextSet(Examples):
    """Texts; `ids[i]` is `file:line`."""

    texts: list[str]

    def _count(self) -> int:
        return len(self.texts)

    def _take(self, index: np.ndarray) -> dict[str, Any]:
        return {"texts": [self.texts[i] for i in index.tolist()]}

    def _digest(self, digest: Any) -> None:
        for text in self.texts:
            digest.update(text.encode("utf-8", "surrogatepass") + b"\0")

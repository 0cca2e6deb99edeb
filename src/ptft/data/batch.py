"""`Batch`: what every step of ptft feeds a model — named tensors with one row per example, plus an optional
(B, T) padding mask (True at padding).

An image batch is `{"x": (B, C, H, W) floats}`, a text batch `{"x": (B, T) token ids}` with the mask of its
padding; a modality whose examples are several tensors (a table's numeric and categorical columns, audio
with its own mask) names each. The shared code (batch streams, the loop, fine-tuning, prediction) only
selects rows, concatenates, moves to a device and counts, so it never needs to know which kind it holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch

MAIN = "x"  # the name of a one-tensor modality's input


@dataclass(frozen=True)
class Batch:
    tensors: Mapping[str, torch.Tensor]
    pad_mask: torch.Tensor | None = None  # (B, T) bool, True at padding; None = no padding
    _size: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        sizes = {len(t) for t in self.tensors.values()} | ({len(self.pad_mask)} if self.pad_mask is not None else set())
        if not self.tensors or len(sizes) != 1:
            shapes = {k: tuple(v.shape) for k, v in self.tensors.items()}
            raise ValueError(f"a batch needs tensors with one row per example, got {shapes}")
        object.__setattr__(self, "_size", sizes.pop())

    @classmethod
    def of(cls, x: torch.Tensor | Batch, pad_mask: torch.Tensor | None = None) -> Batch:
        """`x` as a batch: a one-tensor input is named MAIN; a batch is returned as it is."""
        return x if isinstance(x, Batch) else cls({MAIN: x}, pad_mask)

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, name: str) -> torch.Tensor:
        if name not in self.tensors:
            raise KeyError(f"this batch holds {', '.join(self.tensors)}, not {name!r}")
        return self.tensors[name]

    @property
    def x(self) -> torch.Tensor:
        """The input of a one-tensor modality (images, token ids)."""
        return self[MAIN]

    def rows(self, index: torch.Tensor) -> Batch:
        """The examples at `index` (a long tensor of row numbers, or a bool mask)."""
        mask = None if self.pad_mask is None else self.pad_mask[index]
        return Batch({k: v[index] for k, v in self.tensors.items()}, mask)

    def to(self, device: torch.device | str, non_blocking: bool = False, channels_last: bool = False) -> Batch:
        """On `device`; with `channels_last`, 4-d tensors (B, C, H, W) in that memory format (faster convolutions)."""

        def move(t: torch.Tensor) -> torch.Tensor:
            t = t.to(device, non_blocking=non_blocking)
            return t.contiguous(memory_format=torch.channels_last) if channels_last and t.ndim == 4 else t

        mask = None if self.pad_mask is None else self.pad_mask.to(device, non_blocking=non_blocking)
        return Batch({k: move(v) for k, v in self.tensors.items()}, mask)

    @property
    def lengths(self) -> torch.Tensor | None:
        """Real (non-padding) positions per example, for length-bucketed batches; None without padding."""
        return None if self.pad_mask is None else (~self.pad_mask).sum(1)

    def describe(self) -> str:
        """One example's tensors, for messages: `x of shape (64,) int64`, `x of shape (1, 28, 28) float32`."""
        return ", ".join(f"{k} of shape {tuple(v.shape[1:])} {str(v.dtype)[6:]}" for k, v in self.tensors.items())

    @staticmethod
    def cat(batches: Sequence[Batch]) -> Batch:
        """The examples of every batch, in order (batches made by one preprocessing share their widths)."""
        first = batches[0]
        tensors = {k: torch.cat([b[k] for b in batches]) for k in first.tensors}
        masks = [b.pad_mask for b in batches]
        return Batch(tensors, None if any(m is None for m in masks) else torch.cat(masks))  # type: ignore[arg-type]

"""The one encoder surface every encoder keeps, and the registry that builds them from a spec.

Every encoder: `forward(x, pad_mask=None) -> (B, T, D)`, `.dim` (D) and `.blocks` (the ordered
trainable stages, used by freezing and layer-wise schedules without parsing parameter names).
A spec is plain JSON (`name` plus constructor arguments) and is stored in the bundle.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import nn

from ptft.data.batch import Batch
from ptft.errors import BundleError, ConfigError
from ptft.registry import Registry


class Encoder(nn.Module, ABC):
    dim: int
    blocks: nn.ModuleList
    modality: ClassVar[str]  # the modality whose batches it reads (a name in ptft.modalities.MODALITIES)
    plain_head: ClassVar[bool] = False  # heads without LayerNorm, one logistic output for two classes

    @abstractmethod
    def forward(self, x: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, ...) inputs -> (B, T, D) features; pad_mask (B, T) is True at padding."""

    def padding(self, x: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor | None:
        """The (B, T) pad mask that goes with `forward(x, pad_mask)`'s output; None = no padding.

        Text encoders derive it from the pad token and may drop columns that are padding in every row,
        so heads pool with this mask rather than with the one they were given."""
        return pad_mask

    def encode(self, batch: Batch | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """A batch -> ((B, T, D) features, the (B, T) pad mask that goes with them). One-tensor encoders read
        `batch.x`; an encoder of several named inputs overrides this."""
        batch = Batch.of(batch)
        return self(batch.x, batch.pad_mask), self.padding(batch.x, batch.pad_mask)


ENCODERS: Registry[Callable[..., Encoder]] = Registry("encoder")


def build_encoder(spec: dict[str, Any]) -> Encoder:
    """Build an encoder from {'name': ..., **kwargs}; bad arguments name the encoder and the key."""
    spec = dict(spec)
    name = spec.pop("name", None)
    if not isinstance(name, str):
        raise BundleError(f"encoder spec has no 'name': {spec}")
    factory = ENCODERS.get(name)
    try:
        return factory(**spec)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ConfigError(f"encoder '{name}': {exc}") from None


def mean_pool(features: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
    """(B, T, D) -> (B, D), ignoring positions where pad_mask is True."""
    if pad_mask is None:
        return features.mean(dim=1)
    keep = (~pad_mask).unsqueeze(-1).to(features.dtype)
    return (features * keep).sum(1) / keep.sum(1).clamp_min(1.0)


@torch.no_grad()
def pooled_embeddings(encoder: Encoder, x: Batch, batch_size: int = 256) -> torch.Tensor:
    """The mean-pooled (N, D) float32 features of every example of `x`, in order, on the CPU: batch by batch
    on the encoder's device, in whatever mode the caller left it."""
    device = next(encoder.parameters()).device
    parts = []
    for i in range(0, len(x), batch_size):
        part = x.rows(torch.arange(i, min(i + batch_size, len(x)))).to(device)
        parts.append(mean_pool(*encoder.encode(part)).float().cpu())
    return torch.cat(parts)


LENGTH_MULTIPLE = 8  # trimmed widths are rounded up to this: few distinct shapes


def trim_padding(
    x: torch.Tensor, pad_mask: torch.Tensor, multiple: int = LENGTH_MULTIPLE
) -> tuple[torch.Tensor, torch.Tensor]:
    """Drop the trailing columns that are padding in every row of right-padded (B, T) inputs, keeping the
    width a multiple of `multiple` (or T).

    With length-bucketed batches most of the padding goes, so attention and MLPs do not compute it. The
    rounding bounds the number of distinct batch shapes: every new shape costs the CPU math library a
    kernel build and cached memory (bf16 pre-training from a prepared corpus grew by ~6 MB a step without
    it: bench/memory.py)."""
    keep = int((~pad_mask).sum(1).max()) if pad_mask.numel() else 0
    keep = min(max(-(-max(keep, 1) // multiple) * multiple, 1), x.shape[1])
    return x[:, :keep], pad_mask[:, :keep]

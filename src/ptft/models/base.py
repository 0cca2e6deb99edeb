"""The one encoder surface every encoder keeps, and the registry that builds them from a spec.

Every encoder: `forward(x, pad_mask=None) -> (B, T, D)`, `.dim` (D) and `.blocks` (the ordered
trainable stages, used by freezing and layer-wise schedules without parsing parameter names).
A spec is plain JSON (`name` plus constructor arguments) and is stored in the bundle.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ptft.errors import BundleError, ConfigError
from ptft.registry import Registry


class Encoder(nn.Module, ABC):
    dim: int
    blocks: nn.ModuleList

    @abstractmethod
    def forward(self, x: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, ...) inputs -> (B, T, D) features; pad_mask (B, T) is True at padding."""


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
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"encoder '{name}': {exc}") from None


def mean_pool(features: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
    """(B, T, D) -> (B, D), ignoring positions where pad_mask is True."""
    if pad_mask is None:
        return features.mean(dim=1)
    keep = (~pad_mask).unsqueeze(-1).to(features.dtype)
    return (features * keep).sum(1) / keep.sum(1).clamp_min(1.0)

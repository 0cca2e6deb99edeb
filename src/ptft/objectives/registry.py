"""The objective surface and its registry.

An objective is a module that owns the encoder it trains and returns a scalar loss from a batch:
`forward(x, y=None) -> loss`. Pre-training objectives ignore `y`.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import nn

from ptft.errors import ConfigError
from ptft.models.base import Encoder
from ptft.registry import Registry


class Objective(nn.Module, ABC):
    encoder: nn.Module
    modalities: ClassVar[tuple[str, ...]] = ("image",)  # the encoder modalities it can train

    @abstractmethod
    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """A batch -> scalar loss."""


OBJECTIVES: Registry[Callable[..., Objective]] = Registry("objective")


def build_objective(name: str, encoder: Encoder, **options: Any) -> Objective:
    """Build a registered objective, passing only the options its constructor takes."""
    factory = OBJECTIVES.get(name)
    modalities: tuple[str, ...] = getattr(factory, "modalities", ("image",))
    if encoder.modality not in modalities:
        fits = [n for n in OBJECTIVES.names() if encoder.modality in getattr(OBJECTIVES.get(n), "modalities", ())]
        raise ConfigError(
            f"objective '{name}' trains {'/'.join(modalities)} encoders, but this encoder reads "
            f"{encoder.modality}; use one of: {', '.join(fits)}"
        )
    accepted = inspect.signature(factory).parameters
    try:
        return factory(encoder, **{k: v for k, v in options.items() if k in accepted})
    except ValueError as exc:
        raise ConfigError(f"objective '{name}': {exc}") from None

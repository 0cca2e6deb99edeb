"""The objective surface, its typed options and its registry.

An objective is a module that owns the encoder it trains and returns a scalar loss from a batch:
`forward(batch, y=None) -> loss`. Pre-training objectives ignore `y`. Each registered objective declares
`Options`, a frozen dataclass of what a user may set (`--mask-ratio`, `--temperature`, ...) with its
defaults; an option it does not declare is an error that lists those it does, and the resolved options
are what the bundle records. What the objective must know about the data (the mask token, the image
shape) is not an option: the modality hands it over as context.
"""

from __future__ import annotations

import dataclasses
import inspect
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import torch
from torch import nn

from ptft.data.batch import Batch
from ptft.errors import ConfigError
from ptft.models.base import Encoder
from ptft.registry import Registry


@dataclasses.dataclass(frozen=True)
class NoOptions:
    """An objective a user configures through nothing but the model and the loop."""


class Objective(nn.Module, ABC):
    encoder: nn.Module
    modalities: ClassVar[tuple[str, ...]]  # the encoder modalities it can train
    Options: ClassVar[type] = NoOptions  # its typed options (a frozen dataclass)
    name: str  # set by build_objective: the registered name
    options: Any  # set by build_objective: the resolved Options

    @abstractmethod
    def forward(self, batch: Batch, y: torch.Tensor | None = None) -> torch.Tensor:
        """A batch -> scalar loss."""

    def after_step(self, progress: float) -> None:
        """Called after each optimiser step that changed the weights, with the share of training done (0..1):
        where an objective moves what the optimiser does not (BYOL's momentum target). Nothing by default."""


OBJECTIVES: Registry[type[Objective]] = Registry("objective")


def flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def option_defaults(name: str) -> dict[str, Any]:
    """The options objective `name` takes, with their defaults."""
    return {f.name: f.default for f in dataclasses.fields(OBJECTIVES.get(name).Options)}


def resolve_options(name: str, given: dict[str, Any]) -> Any:
    """Objective `name`'s options: its defaults with `given` over them (an instance of its `Options`).
    A key it does not take, or a value it cannot use, is a ConfigError naming what it does take."""
    defaults = option_defaults(name)
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        takes = ", ".join(f"{flag(k)} (default {v!r})" for k, v in defaults.items()) or "none besides the model's"
        raise ConfigError(
            f"option(s) {', '.join(flag(k) for k in unknown)} do not apply to objective '{name}'; its options: {takes}"
        )
    try:
        return OBJECTIVES.get(name).Options(**given)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"objective '{name}': {exc}") from None


def build_objective(name: str, encoder: Encoder, options: Any = None, **context: Any) -> Objective:
    """Build a registered objective with `options` (its Options, or a dict of user values checked by
    `resolve_options`) and the `context` its constructor asks for (the modality's facts about the data)."""
    factory = OBJECTIVES.get(name)
    if encoder.modality not in factory.modalities:
        fits = [n for n in OBJECTIVES.names() if encoder.modality in OBJECTIVES.get(n).modalities]
        raise ConfigError(
            f"objective '{name}' trains {'/'.join(factory.modalities)} encoders, but this encoder reads "
            f"{encoder.modality}; use one of: {', '.join(fits)}"
        )
    misplaced = sorted(set(context) & {key for other in OBJECTIVES.names() for key in option_defaults(other)})
    if misplaced:  # context is filtered by the constructor's signature: an option there would vanish
        raise ConfigError(f"{', '.join(misplaced)}: objective options, not context; pass them in `options`")
    if not isinstance(options, factory.Options):
        options = resolve_options(name, dict(options or {}))
    wanted = inspect.signature(factory).parameters
    try:
        objective = factory(encoder, options, **{k: v for k, v in context.items() if k in wanted})
    except ValueError as exc:
        raise ConfigError(f"objective '{name}': {exc}") from None
    objective.name, objective.options = name, options  # what the bundle records
    return objective

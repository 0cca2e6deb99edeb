"""An exponential moving average of the weights (Polyak averaging), for `--ema DECAY`.

The loop validates, keeps and returns the averaged weights while the optimiser updates the live ones.
FixMatch evaluates this way (Sohn et al. 2020, decay 0.999), as does Mean Teacher (Tarvainen & Valpola
2017): with a few labels the averaged model is less noisy than the last step, so early stopping on a small
validation set picks a better model. Every floating-point entry of the state (parameters and norm statistics)
is averaged; integer entries (step counters) are copied. The decay warms up as min(decay, (1 + t) / (10 + t))
after t steps, so the average is not held at the starting weights for the first thousand steps.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn


def decay_at(decay: float, step: int) -> float:
    """The decay applied at optimiser step `step` (1-based)."""
    return min(decay, (1 + step) / (10 + step))


class WeightAverage:
    """The running average of `module`'s state; `shadow` holds it (same keys as module.state_dict())."""

    def __init__(self, module: nn.Module, decay: float, shadow: dict[str, torch.Tensor] | None = None) -> None:
        if not 0 < decay < 1:
            raise ValueError(f"decay must be in (0, 1), got {decay}")
        self.decay = decay
        live = module.state_dict()
        if shadow is not None and set(shadow) != set(live):
            raise ValueError("the saved weight average does not match the model's weights")
        source = shadow if shadow is not None else live
        self.shadow = {k: v.detach().clone() for k, v in source.items()}

    @torch.no_grad()
    def update(self, module: nn.Module, step: int) -> None:
        """Move the average towards the live weights after optimiser step `step`."""
        weight = 1.0 - decay_at(self.decay, step)
        for key, value in module.state_dict().items():
            average = self.shadow[key]
            if average.is_floating_point():
                average.lerp_(value.detach().to(average.dtype), weight)
            else:
                average.copy_(value)

    @contextlib.contextmanager
    def swapped_in(self, module: nn.Module) -> Iterator[None]:
        """`module` holds the averaged weights inside the block and its live ones again after it."""
        live = {k: v.detach().clone() for k, v in module.state_dict().items()}
        module.load_state_dict(self.shadow)
        try:
            yield
        finally:
            module.load_state_dict(live)

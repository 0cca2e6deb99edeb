"""What the loop watches besides the loss itself: non-finite steps (--on-nonfinite halt|skip), the window
of steps between two log lines (items per second, the largest gradient norm), and the time budget."""

from __future__ import annotations

import math
import time

import torch

from ptft.config import LoopConfig
from ptft.errors import PtftError
from ptft.train.distributed import Dist, any_rank


class NonFiniteLoss(PtftError):
    """The loss became NaN or inf; lower the learning rate or check the data."""


class NonFiniteGuard:
    """Decides what a step with a NaN/inf loss or gradient norm does: stop the run (halt), or change no
    weight and go on (skip), until more than --max-skips such steps come in a row."""

    def __init__(self, cfg: LoopConfig) -> None:
        self.cfg = cfg
        self.skipped, self.in_a_row = 0, 0  # non-finite steps skipped: in all, and consecutively

    def should_skip(self, loss: float, grad_norm: float, step: int, info: Dist, device: torch.device) -> bool:
        """True when this step must change no weight; raises NonFiniteLoss when the run must stop.
        Every rank takes part (one rank's NaN skips the step everywhere)."""
        if not any_rank(not (math.isfinite(loss) and math.isfinite(grad_norm)), info, device):
            self.in_a_row = 0
            return False
        self.skipped, self.in_a_row = self.skipped + 1, self.in_a_row + 1
        cfg = self.cfg
        if cfg.on_nonfinite == "halt" or self.in_a_row > cfg.max_skips:
            why = "" if cfg.on_nonfinite == "halt" else f" ({self.in_a_row} steps in a row, more than --max-skips)"
            raise NonFiniteLoss(
                f"non-finite loss {loss}, gradient norm {grad_norm} at step {step}{why}: lower --lr (now {cfg.lr}), "
                "check the inputs, or pass --on-nonfinite skip to skip such steps"
            )
        return True


class Window:
    """The steps since the previous log line: examples seen (for items per second) and the largest
    gradient norm (NaN included: a NaN is never hidden by a later finite norm)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.start, self.items, self.grad_norm_max = time.perf_counter(), 0, 0.0

    def add(self, items: int, grad_norm: float) -> None:
        self.items += items
        if not grad_norm <= self.grad_norm_max:
            self.grad_norm_max = grad_norm

    def line(self, loss: float, lr: float, grad_norm: float, run_start: float) -> dict[str, float]:
        """The values of one log line; starts the next window."""
        now = time.perf_counter()
        values = {
            "loss": loss,
            "lr": lr,
            "grad_norm": grad_norm,
            "grad_norm_max": self.grad_norm_max,
            "items_per_s": self.items / max(1e-9, now - self.start),
            "elapsed_s": now - run_start,
        }
        self.reset()
        return values


def fit_to_budget(step: int, planned: int, elapsed: float, minutes: float) -> int:
    """Schedule length that ends the run inside its time budget, re-estimated from the measured
    step rate as the run goes (a rate from the first steps alone misjudges a busy machine)."""
    left = minutes * 60 - elapsed
    return max(step + 1, min(planned, step + int(0.98 * left / (elapsed / step))))

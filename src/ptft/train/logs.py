"""Run logging: a progress bar (loss, items/s, ETA), metrics.jsonl and TensorBoard events."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm


class RunLogger:
    """Writes on the main rank only; other ranks get a logger that does nothing."""

    def __init__(self, run_dir: Path | None, total: int, desc: str, progress: bool, start: int = 0) -> None:
        self.enabled = run_dir is not None
        self._jsonl = None
        self._tb: Any = None
        self._every_step: set[str] = set()  # keys `scalar` writes; `log` leaves them out of TensorBoard
        self.bar = tqdm(
            total=total,
            initial=start,
            desc=desc,
            unit="step",
            disable=not (self.enabled and progress),
            dynamic_ncols=True,
            mininterval=1.0,
            file=sys.stderr,
        )
        if run_dir is not None:
            logs = run_dir / "logs"
            logs.mkdir(parents=True, exist_ok=True)
            self._jsonl = open(logs / "metrics.jsonl", "a", encoding="utf-8")
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(logs))
            except ImportError:  # tensorboard is a dependency; tolerate a broken install
                self._tb = None

    def set_total(self, total: int) -> None:
        self.bar.total = total
        self.bar.refresh()

    def log(self, step: int, values: dict[str, float], advance: int = 0) -> None:
        if advance:
            self.bar.update(advance)
        if not self.enabled:
            return
        if "loss" in values:
            self.bar.set_postfix(
                {k: f"{v:.4g}" for k, v in values.items() if k in ("loss", "items_per_s", "val")},
                refresh=False,
            )
        assert self._jsonl is not None
        self._jsonl.write(json.dumps({"step": step, **values}) + "\n")
        self._jsonl.flush()
        if self._tb is not None:
            for key, value in values.items():
                if key not in self._every_step:  # already in TensorBoard, step by step
                    self._tb.add_scalar(key, value, step)

    def scalar(self, step: int, key: str, value: float) -> None:
        """One value to TensorBoard only (for values recorded every step, too many for metrics.jsonl)."""
        self._every_step.add(key)
        if self._tb is not None:
            self._tb.add_scalar(key, value, step)

    def tick(self, n: int = 1) -> None:
        self.bar.update(n)

    def write(self, message: str) -> None:
        if self.enabled:
            self.bar.write(message, file=sys.stderr)

    def close(self) -> None:
        self.bar.close()
        if self._jsonl is not None:
            self._jsonl.close()
        if self._tb is not None:
            self._tb.close()

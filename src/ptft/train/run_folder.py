"""The run folder around a bundle: created (never over an earlier run unless asked), the resolved config
written and compared on --resume, the values a run fixes once kept beside it while it can be resumed
(the fitted preprocessing, the batch size --batch-size auto found), and the finished bundle committed.
The bundle's own files are `train/checkpoint.py`'s; this module knows only the side files of a run."""

from __future__ import annotations

import dataclasses
import json
import platform
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ptft.config import LoopConfig, flatten, to_dict
from ptft.data.batch import Batch
from ptft.errors import BundleError, ConfigError, RunInterrupted
from ptft.preprocess import Preprocessor, preprocessor_from_state
from ptft.train.autobatch import auto_batch_size
from ptft.train.checkpoint import MANIFEST, prepare_run_dir, write_bundle
from ptft.train.distributed import Dist, json_from_rank0, on_rank0, pick_device, resolve_precision
from ptft.version import __version__

CONFIG_FILE = "config.json"  # the resolved config of the run
PREPROCESSOR_FILE = "preprocessor.json"  # the fitted preprocessing of a run in progress (for --resume)
AUTO_BATCH_FILE = "batch_size.json"  # the batch size --batch-size auto found (reused by --resume)
RESUMABLE = ("resume", "*/resume")  # checkpoint folders (also of self-training, later stages), removed at the end
FREE_ON_RESUME = {"workers", "progress"}  # options that do not change what a run computes


def versions() -> dict[str, str]:
    return {"ptft": __version__, "torch": torch.__version__, "python": platform.python_version()}


def once_per_run(out: str, name: str, resume: bool, info: Dist, decide: Callable[[], Any]) -> Any:
    """A JSON value decided once for a run and the same on every rank: rank 0 decides it (or, on --resume,
    reads back the one the run started with from `out/name`) and sends it to the others.
    `keep_for_resume` writes it into the run folder once that exists."""
    value = None
    if info.rank == 0:
        saved = Path(out) / name
        value = json.loads(saved.read_text()) if resume and saved.is_file() else decide()
    return json_from_rank0(value, info)


def keep_for_resume(run_dir: Path, name: str, value: Any, info: Dist) -> None:
    def work() -> None:
        (run_dir / name).write_text(json.dumps(value))

    on_rank0(work, info)


def resolved_loop(
    loop: LoopConfig, objective: nn.Module, x: Batch, y: torch.Tensor | None, out: str, resume: bool, info: Dist
) -> LoopConfig:
    """`loop` with --batch-size auto replaced by the largest batch that fits (found on rank 0, shared)."""
    if loop.batch_size:
        return loop

    def search() -> dict[str, int]:
        device = pick_device(info)
        precision = resolve_precision(loop.precision, device)
        return {"batch_size": auto_batch_size(objective, x, y, precision, device)}

    found = int(once_per_run(out, AUTO_BATCH_FILE, resume, info, search)["batch_size"])
    print(f"--batch-size auto: {found} per process")
    return dataclasses.replace(loop, batch_size=found)


def changed_options(stored: dict[str, Any], current: dict[str, Any], free: frozenset[str] = frozenset()) -> list[str]:
    """The options whose values differ between a run's stored config (its config.json) and `current` (a config
    as `to_dict` gives it), compared as JSON, but for FREE_ON_RESUME and `free`: what a --resume refuses, and
    what makes a finished run another computation than the one `current` asks for."""
    before, now = (flatten(json.loads(json.dumps(config))) for config in (stored, current))  # tuples as lists
    return sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k) and k not in FREE_ON_RESUME | free)


def start_run(
    out: str, overwrite: bool, resume: bool, config: Any, info: Dist, free: frozenset[str] = frozenset()
) -> Path:
    """Create the run folder (rank 0), write the resolved config, refuse a changed config on resume (but for
    the `free` options, which only add work: a study's budgets, seeds and methods)."""
    run_dir = Path(out)

    def work() -> None:
        prepare_run_dir(run_dir, overwrite, resume)
        path = run_dir / CONFIG_FILE
        current = {k: v for k, v in to_dict(config).items() if k not in ("resume", "overwrite")}
        if resume and (run_dir / MANIFEST).is_file() and not (run_dir / "resume").is_dir():
            raise BundleError(f"{run_dir} holds a finished run; there is nothing to resume (use another --out)")
        if resume and path.is_file():
            changed = changed_options(json.loads(path.read_text()), current, free)
            if changed:
                raise ConfigError(
                    f"--resume with a changed config ({', '.join(changed)}) in {run_dir}; resume with the "
                    f"options of the original run (stored in {path}) or start a new run with another --out"
                )
        path.write_text(json.dumps(current, indent=2, sort_keys=True))

    on_rank0(work, info)
    return run_dir


def finish_run(run_dir: Path, meta: dict[str, Any], tensors: dict[str, torch.Tensor], info: Dist) -> None:
    """Commit the bundle (rank 0) and remove what only a resume needed."""

    def work() -> None:
        (run_dir / PREPROCESSOR_FILE).unlink(missing_ok=True)  # the bundle's ptft.json holds it now
        write_bundle(run_dir, {**meta, "versions": versions()}, tensors)
        for pattern in RESUMABLE:
            for folder in run_dir.glob(pattern):
                shutil.rmtree(folder, ignore_errors=True)  # finished: nothing left to resume

    on_rank0(work, info)


def interrupted(command: str, run_dir: Path, steps: int, total: int) -> RunInterrupted:
    return RunInterrupted(
        f"stopped at step {steps} of {total}; a checkpoint is saved under {run_dir}. "
        f"Continue with the same options plus --resume: ptft {command} --out {run_dir} ... --resume"
    )


def fitted_once(out: str, resume: bool, info: Dist, fit: Callable[[], Preprocessor]) -> Preprocessor:
    """The run's preprocessing, identical on every rank and across --resume: fitted once, on rank 0, and
    shared as JSON (fitting it again would give the same result, but costs the time of a fit per rank)."""
    return preprocessor_from_state(once_per_run(out, PREPROCESSOR_FILE, resume, info, lambda: fit().state_dict()))

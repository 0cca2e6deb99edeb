"""One plain training loop, used by pre-training and fine-tuning alike.

The objective decides what the loss is; the loop does the rest: AdamW with warm-up + cosine,
gradient accumulation and clipping, bf16 autocast, DDP under torchrun, a time budget, periodic
evaluation with early stopping / a target, an optional weight average (train/average.py), resumable
checkpoints and logging.
"""

from __future__ import annotations

import contextlib
import math
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ptft.config import LoopConfig
from ptft.train.autobatch import OutOfMemory, is_out_of_memory, out_of_memory_message
from ptft.train.average import WeightAverage
from ptft.train.batches import BatchStream
from ptft.train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from ptft.train.distributed import (
    Dist,
    any_rank,
    autocast,
    barrier,
    from_rank0,
    gather_rng,
    mean_across_ranks,
    pick_device,
    resolve_precision,
)
from ptft.train.guards import NonFiniteGuard, Window, fit_to_budget
from ptft.train.logs import RunLogger
from ptft.train.optim import lr_factor, make_optimizer, set_lr

Evaluate = Callable[[], dict[str, float]]


@dataclass
class TrainResult:
    steps: int
    total_steps: int
    stopped: str  # steps | time | patience | target | interrupted
    best: float | None = None
    last_eval: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    last_loss: float = float("nan")
    skipped: int = 0  # non-finite steps skipped
    best_step: int = 0  # the step of the best validation score (0: no evaluation)
    curve: list[tuple[int, float]] = field(default_factory=list)  # every (step, monitored validation score)


def after_step(objective: nn.Module, progress: float) -> None:
    """The objective's own update after an optimiser step (`Objective.after_step`: BYOL's momentum target)."""
    hook = getattr(objective, "after_step", None)
    if callable(hook):
        hook(progress)


def _uses_conv(model: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


@contextlib.contextmanager
def _sigterm_flag() -> Iterator[dict[str, bool]]:
    """SIGTERM (pre-emption) sets a flag the loop checks between steps, so it can save and stop."""
    flag = {"stop": False}

    def handler(signum: int, frame: Any) -> None:
        flag["stop"] = True

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield flag
        return
    try:
        yield flag
    finally:
        signal.signal(signal.SIGTERM, previous)


def plan_steps(cfg: LoopConfig, data: BatchStream) -> int:
    if cfg.steps > 0:
        return cfg.steps
    return max(1, math.ceil(cfg.epochs * data.steps_per_epoch / max(1, cfg.accumulate)))


@dataclass
class LoopState:
    """Everything besides weights, optimizer and RNG that a checkpoint must hold for an exact resume."""

    step: int
    total: int
    elapsed_s: float = 0.0
    best: float | None = None
    bad_evals: int = 0
    best_state: dict[str, torch.Tensor] | None = None
    best_step: int = 0
    curve: list[tuple[int, float]] = field(default_factory=list)
    average: dict[str, torch.Tensor] | None = None  # --ema: the averaged weights (WeightAverage.shadow)

    def to_json(self, data: BatchStream) -> dict[str, Any]:
        keys = ("step", "total", "elapsed_s", "best", "bad_evals", "best_step", "curve")
        return {**{k: getattr(self, k) for k in keys}, "stream": data.state_dict()}


def _restore(
    run_dir: Path | None,
    objective: nn.Module,
    optimizer: torch.optim.Optimizer,
    data: BatchStream,
    total: int,
    rank: int,
) -> LoopState:
    """Continue from the newest complete checkpoint (or from step 0 if the run saved none)."""
    ckpt = latest_checkpoint(run_dir) if run_dir is not None else None
    if ckpt is None:
        return LoopState(0, total)
    model_state, optimizer_state, loop = load_checkpoint(ckpt, rank)
    best_state = {k[5:]: v for k, v in model_state.items() if k.startswith("best.")} or None
    average = {k[4:]: v for k, v in model_state.items() if k.startswith("ema.")} or None
    objective.load_state_dict({k: v for k, v in model_state.items() if not k.startswith(("best.", "ema."))})
    optimizer.load_state_dict(optimizer_state)
    _match_param_layout(optimizer)
    data.load_state_dict(loop["stream"])
    best_step = int(loop.get("best_step", 0))  # checkpoints before it was kept: 0
    curve = [(int(step), float(score)) for step, score in loop.get("curve", [])]
    return LoopState(
        loop["step"], loop["total"], loop["elapsed_s"], loop["best"], loop["bad_evals"], best_state, best_step, curve,
        average,
    )


def _save(
    run_dir: Path | None, objective: nn.Module, optimizer: Any, state: LoopState, data: BatchStream, info: Dist
) -> None:
    if run_dir is None:
        return
    rng = gather_rng(info)  # every rank takes part
    if info.is_main:
        tensors = dict(objective.state_dict())
        if state.best_state is not None:
            tensors.update({f"best.{k}": v for k, v in state.best_state.items()})
        if state.average is not None:
            tensors.update({f"ema.{k}": v for k, v in state.average.items()})
        save_checkpoint(run_dir, state.step, tensors, optimizer.state_dict(), state.to_json(data), rng_states=rng)
    barrier(info)


def _judge(state: LoopState, score: float, objective: nn.Module, cfg: LoopConfig) -> str | None:
    """Record a validation score; return why to stop ('target', 'patience') or None."""
    state.curve.append((state.step, score))
    if state.best is None or score > state.best:
        state.best, state.bad_evals, state.best_step = score, 0, state.step
        state.best_state = {k: v.detach().clone() for k, v in objective.state_dict().items()}
    else:
        state.bad_evals += 1
    if cfg.target and score >= cfg.target:
        return "target"
    if cfg.patience and state.bad_evals >= cfg.patience:
        return "patience"
    return None


def _forward_backward(
    model: nn.Module,
    data: BatchStream,
    cfg: LoopConfig,
    info: Dist,
    device: torch.device,
    precision: str,
    channels_last: bool,
) -> tuple[float, int]:
    """The gradients of one optimiser step (cfg.accumulate micro-batches) -> (loss, examples seen on all ranks)."""
    loss_sum, items = 0.0, 0
    for micro in range(cfg.accumulate):
        x, y = data.next()
        x = x.to(device, non_blocking=True, channels_last=channels_last)
        y = None if y is None else y.to(device, non_blocking=True)
        sync = micro == cfg.accumulate - 1 or info.world == 1
        try:
            with contextlib.nullcontext() if sync else model.no_sync(), autocast(precision, device):  # type: ignore[operator]
                loss = model(x, y) / cfg.accumulate
            loss.backward()  # even when non-finite: under DDP every rank must join the all-reduce
        except Exception as error:
            if is_out_of_memory(error):
                raise OutOfMemory(out_of_memory_message(len(x), x, cfg.accumulate)) from None
            raise
        loss_sum += float(loss.detach())
        items += len(x) * info.world
    return loss_sum, items


def _stop_reason(state: LoopState, step: int, cfg: LoopConfig, elapsed: float, interrupted: bool) -> str | None:
    """Why the run stops after `step` without an evaluation: its time budget is spent, or it was told to stop."""
    if cfg.max_minutes > 0 and elapsed > cfg.max_minutes * 60 and step < state.total:
        return "time"
    return "interrupted" if interrupted else None


def train(
    objective: nn.Module,
    data: BatchStream,
    cfg: LoopConfig,
    run_dir: Path | None,
    info: Dist,
    param_groups: list[dict[str, Any]] | None = None,
    evaluate: Evaluate | None = None,
    monitor: str = "accuracy",
    resume: bool = False,
    stop_at: int = 0,
    desc: str = "train",
) -> TrainResult:
    """Train `objective` (a module whose forward(batch, y) returns the loss) on `data`.

    `param_groups` (each with 'params' and 'lr') come from a fine-tuning strategy; default: all
    parameters at cfg.lr. `evaluate` returns validation metrics; `monitor` names the one that
    early stopping, the target and best-checkpoint selection use (higher is better; '' = log them only).
    `stop_at` > 0 simulates a pre-emption after that step (tests).
    """
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    device = pick_device(info)
    precision = resolve_precision(cfg.precision, device)
    channels_last = _uses_conv(objective)
    objective.to(device)
    if channels_last:
        objective.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    optimizer = make_optimizer(
        param_groups or [{"params": list(objective.parameters()), "lr": cfg.lr}], cfg.weight_decay
    )
    model: nn.Module = DistributedDataParallel(objective) if info.world > 1 else objective
    if cfg.compile:
        model = torch.compile(model)  # type: ignore[assignment]  # compiles lazily, at the first step
    planned = plan_steps(cfg, data)
    state = _restore(run_dir, objective, optimizer, data, planned, info.rank) if resume else LoopState(0, planned)
    if resume and run_dir is not None and info.is_main:
        _truncate_log(run_dir, state.step)  # the log reads as one run
    average = WeightAverage(objective, cfg.ema, state.average) if cfg.ema > 0 else None
    state.average = None if average is None else average.shadow  # saved with every checkpoint
    eval_every = cfg.eval_every or max(1, data.steps_per_epoch // max(1, cfg.accumulate))
    logger = RunLogger(run_dir if info.is_main else None, state.total, desc, cfg.progress, start=state.step)
    guard, window = NonFiniteGuard(cfg), Window()
    stopped, last_eval, last_loss = "steps", {}, float("nan")
    start = time.perf_counter() - state.elapsed_s
    first_step: float | None = time.perf_counter() if cfg.compile else None
    with _sigterm_flag() as term, contextlib.closing(data):  # closing: loader workers stop on any exit
        model.train()
        while state.step < state.total:
            lr = set_lr(optimizer, lr_factor(state.step, state.total, cfg.warmup))
            loss_sum, items = _forward_backward(model, data, cfg, info, device, precision, channels_last)
            max_norm = cfg.clip_norm if cfg.clip_norm > 0 else float("inf")
            grad_norm = float(torch.nn.utils.clip_grad_norm_(objective.parameters(), max_norm))
            logger.scalar(state.step + 1, "grad_norm", grad_norm)  # every step (TensorBoard); the log lines
            window.add(items, grad_norm)  # carry the largest since the previous line
            if guard.should_skip(loss_sum, grad_norm, state.step, info, device):
                logger.log(state.step + 1, {"skipped_nonfinite": guard.skipped})
            else:
                optimizer.step()
                after_step(objective, (state.step + 1) / state.total)
            optimizer.zero_grad(set_to_none=True)  # a skipped step changes no weight
            state.step, last_loss = state.step + 1, loss_sum
            step = state.step
            if average is not None:
                average.update(objective, step)
            if first_step is not None:  # with --compile the first step includes compiling
                logger.log(step, {"compile_s": round(time.perf_counter() - first_step, 2)})
                first_step = None

            elapsed = from_rank0(time.perf_counter() - start, info, device) if cfg.max_minutes > 0 else 0.0
            if cfg.max_minutes > 0 and step % 5 == 0 and step < state.total:  # cheap: re-fit the schedule often
                state.total = fit_to_budget(step, planned, elapsed, cfg.max_minutes)
                logger.set_total(state.total)
            if step % cfg.log_every == 0 or step == state.total:
                logger.log(step, window.line(mean_across_ranks(loss_sum, info, device), lr, grad_norm, start))
            logger.tick()

            if evaluate is not None and (step % eval_every == 0 or step == state.total):
                model.eval()
                with average.swapped_in(objective) if average else contextlib.nullcontext():  # judge the average
                    last_eval = evaluate()
                    logger.log(step, {f"val_{k}": v for k, v in last_eval.items()})
                    score = from_rank0(last_eval[monitor], info, device) if monitor else None
                    reason = _judge(state, score, objective, cfg) if score is not None else None
                model.train()
                if reason:
                    stopped = reason
                    break
            interrupted = any_rank(term["stop"] or step == stop_at, info, device)
            reason = _stop_reason(state, step, cfg, elapsed, interrupted)
            if reason == "time":
                stopped = reason
                break
            if reason == "interrupted" or (
                cfg.checkpoint_every and step % cfg.checkpoint_every == 0 and step < state.total
            ):
                state.elapsed_s = time.perf_counter() - start
                _save(run_dir, objective, optimizer, state, data, info)
            if reason == "interrupted":
                stopped = reason
                break

    logger.close()
    if state.best_state is not None and stopped != "interrupted":
        objective.load_state_dict(state.best_state)  # the best validation checkpoint wins
    elif average is not None and stopped != "interrupted":
        objective.load_state_dict(average.shadow)  # no validation: the run ends on the averaged weights
    seconds = time.perf_counter() - start
    return TrainResult(
        state.step, state.total, stopped, state.best, last_eval, seconds, last_loss, guard.skipped, state.best_step,
        state.curve,
    )


def _match_param_layout(optimizer: torch.optim.Optimizer) -> None:
    """Saved moments are contiguous; give them their parameter's memory format (channels_last)."""
    for param, slots in optimizer.state.items():
        for key, value in slots.items():
            if isinstance(value, torch.Tensor) and value.shape == param.shape and value.stride() != param.stride():
                slots[key] = torch.empty_like(param).copy_(value)


def _truncate_log(run_dir: Path, step: int) -> None:
    """On resume, drop log lines written after the checkpoint so the log reads as one run."""
    import json

    path = run_dir / "logs" / "metrics.jsonl"
    if not path.is_file():
        return
    kept = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            if json.loads(line).get("step", 0) <= step:
                kept.append(line)
        except (json.JSONDecodeError, AttributeError):
            continue  # a line cut off by a kill: it belongs to no checkpoint
    path.write_text("".join(line + "\n" for line in kept))

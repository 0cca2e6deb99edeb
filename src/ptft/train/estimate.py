"""`--dry-run`: what a run will cost before it starts — parameters, FLOPs per step, memory, and time.

FLOPs are counted by PyTorch's `FlopCounterMode` over one real forward + backward step (matrix
multiplies and convolutions, the work that dominates); activation memory is the bytes autograd saves
for the backward pass in that step (`saved_tensors_hooks`, each storage counted once); weights,
gradients and AdamW's two moments are 4 bytes per parameter each. The time comes from timing the
training loop itself for a few steps on this machine, times the planned number of steps (capped by
--max-minutes); one-off start-up costs (imports, reading the data) are not in it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ptft.config import LoopConfig
from ptft.data.batch import Batch
from ptft.train.batches import BatchStream
from ptft.train.distributed import Dist, autocast, pick_device, resolve_precision
from ptft.train.loop import plan_steps, train
from ptft.train.optim import make_optimizer

BYTES_PER_FLOAT = 4


@dataclass(frozen=True)
class Estimate:
    parameters: int
    trainable: int
    flops_per_step: int
    weights_bytes: int
    training_state_bytes: int  # gradients + AdamW moments
    activation_bytes: int
    seconds_per_step: float
    steps: int
    seconds: float

    def summary(self) -> str:
        gib = 2**30
        lines = [
            f"parameters        {self.parameters:,} ({self.trainable:,} trainable)",
            f"FLOPs per step    {self.flops_per_step / 1e9:,.2f} GFLOP (forward + backward)",
            f"memory            weights {self.weights_bytes / gib:.3f} GiB, gradients + AdamW "
            f"{self.training_state_bytes / gib:.3f} GiB, activations {self.activation_bytes / gib:.3f} GiB per step",
            f"speed             {self.seconds_per_step * 1000:,.1f} ms per step "
            f"({self.flops_per_step / max(self.seconds_per_step, 1e-12) / 1e9:,.1f} GFLOP/s)",
            f"estimated time    {self.steps:,} steps x {self.seconds_per_step:.3f} s + start-up "
            f"= {self.seconds / 60:,.1f} min",
        ]
        return "\n".join(lines)


def _saved_bytes(objective: nn.Module, x: Batch, y: torch.Tensor | None) -> tuple[torch.Tensor, int]:
    seen: set[int] = set()
    total = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal total
        storage = t.untyped_storage()
        if storage.data_ptr() not in seen:
            seen.add(storage.data_ptr())
            total += storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = objective(x, y)
    return loss, total


def estimate(objective: nn.Module, data: BatchStream, cfg: LoopConfig, info: Dist, timed_steps: int = 10) -> Estimate:
    """Count one step's FLOPs and memory, and time `timed_steps` steps of the real training loop (clipping,
    schedule, logging bookkeeping included) as the difference between a 2-step and a (2 + timed_steps)-step
    run, so that the loop's fixed start-up cost is not spread over the steps.

    The objective's weights change (it trains for those steps): call it on a model you will not keep."""
    device = pick_device(info)
    precision = resolve_precision(cfg.precision, device)
    objective.to(device).train()
    params = list(objective.parameters())
    trainable = [p for p in params if p.requires_grad]
    optimizer = make_optimizer([{"params": trainable, "lr": cfg.lr}], cfg.weight_decay)

    def batch() -> tuple[Batch, torch.Tensor | None]:
        x, y = data.next()
        return x.to(device), None if y is None else y.to(device)

    x, y = batch()
    with FlopCounterMode(display=False) as counter:
        with autocast(precision, device):
            loss, activation_bytes = _saved_bytes(objective, x, y)
        loss.backward()
    optimizer.zero_grad(set_to_none=True)
    flops = counter.get_total_flops() * cfg.accumulate
    probe = replace(cfg, max_minutes=0.0, log_every=10**9, eval_every=0, checkpoint_every=0, progress=False)

    def run(steps: int) -> float:  # the fastest of two tries: the one a busy machine disturbed least
        times = []
        for _ in range(2):
            start = time.perf_counter()
            train(objective, data, replace(probe, steps=steps), None, info)
            times.append(time.perf_counter() - start)
        return min(times)

    short = run(2)
    per_step = max(run(2 + timed_steps) - short, 1e-9) / timed_steps
    startup = max(short - 2 * per_step, 0.0)  # the loop's own fixed cost (optimizer, logger, ...)
    steps = plan_steps(cfg, data)
    seconds = startup + steps * per_step
    if cfg.max_minutes > 0:
        seconds = min(seconds, cfg.max_minutes * 60)
        steps = min(steps, int(max(seconds - startup, 0.0) / per_step))
    n_params = sum(p.numel() for p in params)
    n_trainable = sum(p.numel() for p in trainable)
    return Estimate(
        parameters=n_params,
        trainable=n_trainable,
        flops_per_step=int(flops),
        weights_bytes=n_params * BYTES_PER_FLOAT,
        training_state_bytes=3 * n_trainable * BYTES_PER_FLOAT,
        activation_bytes=activation_bytes,
        seconds_per_step=per_step,
        steps=steps,
        seconds=seconds,
    )

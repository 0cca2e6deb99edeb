"""AdamW with linear warm-up and cosine decay, set per step (no scheduler object to persist)."""

from __future__ import annotations

import math
from typing import Any

import torch


def make_optimizer(param_groups: list[dict[str, Any]], weight_decay: float) -> torch.optim.Optimizer:
    """Param groups carry their own 'lr'; norms, biases and 1-D parameters get no weight decay."""
    groups: list[dict[str, Any]] = []
    for group in param_groups:
        params = [p for p in group["params"] if p.requires_grad]
        decay = [p for p in params if p.ndim >= 2]
        no_decay = [p for p in params if p.ndim < 2]
        for chosen, wd in ((decay, weight_decay), (no_decay, 0.0)):
            if chosen:
                groups.append({"params": chosen, "lr": group["lr"], "base_lr": group["lr"], "weight_decay": wd})
    if not groups:
        raise ValueError("no trainable parameters")
    fused = all(p.device.type in ("cpu", "cuda") for g in groups for p in g["params"])
    return torch.optim.AdamW(groups, betas=(0.9, 0.95), fused=fused)


def lr_factor(step: int, total: int, warmup: float) -> float:
    """Linear warm-up over `warmup` x total steps, then cosine to 1 % of the peak."""
    warm = max(1, int(warmup * total))
    if step < warm:
        return (step + 1) / warm
    progress = min(1.0, (step - warm) / max(1, total - warm))
    return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress))


def set_lr(optimizer: torch.optim.Optimizer, factor: float) -> float:
    for group in optimizer.param_groups:
        group["lr"] = group["base_lr"] * factor
    return float(optimizer.param_groups[0]["lr"])

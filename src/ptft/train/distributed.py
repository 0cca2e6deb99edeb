"""Device, precision and torchrun/DDP as small helpers (gloo on CPU, nccl on GPU).

Launch with PyTorch's own launcher: `torchrun --nproc-per-node N -m ptft pretrain ...`.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from ptft.errors import ConfigError, PtftError


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed() -> Dist:
    """Join the torchrun process group if launched by torchrun; a single process otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
    return Dist(rank=dist.get_rank(), world=dist.get_world_size(), local_rank=local_rank)


def close_distributed() -> None:
    """Leave the process group (torchrun can abort a rank at exit if it is still open)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def pick_device(info: Dist) -> torch.device:
    return torch.device("cuda", info.local_rank) if torch.cuda.is_available() else torch.device("cpu")


def resolve_precision(precision: str, device: torch.device) -> str:
    """'auto' -> bf16 on CUDA and on CPUs with native bf16 (autocast measured 1.5-1.9x there), else fp32."""
    if precision not in ("auto", "fp32", "bf16"):
        raise ConfigError(f"precision '{precision}' unknown; choose auto, fp32 or bf16")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_has_bf16() else "fp32"


@functools.cache
def cpu_has_bf16() -> bool:
    """Native bf16 matrix instructions (AVX512-BF16 or AMX): where bf16 autocast pays off on a CPU."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            flags = fh.read()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


@contextlib.contextmanager
def autocast(precision: str, device: torch.device) -> Iterator[None]:
    if precision == "bf16":
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
            yield
    else:
        yield


def mean_across_ranks(value: float, info: Dist, device: torch.device) -> float:
    if info.world == 1:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t.item()) / info.world


def any_rank(flag: bool, info: Dist, device: torch.device) -> bool:
    """True on every rank if any rank says True (e.g. SIGTERM seen by one of them)."""
    if info.world == 1:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def from_rank0(value: float, info: Dist, device: torch.device) -> float:
    """Rank 0's value on every rank, so that decisions taken from it (stop, schedule) agree."""
    if info.world == 1:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.broadcast(t, src=0)
    return float(t.item())


def gather_rng(info: Dist) -> dict[str, torch.Tensor]:
    """Every rank's CPU random state (for rank 0 to save in a checkpoint)."""
    state = torch.get_rng_state()
    if info.world == 1:
        cuda = {"cuda.0": torch.cuda.get_rng_state()} if torch.cuda.is_available() else {}
        return {"torch.0": state, **cuda}
    states = [torch.empty_like(state) for _ in range(info.world)]
    dist.all_gather(states, state)
    return {f"torch.{rank}": s for rank, s in enumerate(states)}


def on_rank0(work: Callable[[], None], info: Dist) -> None:
    """Run `work` on rank 0 alone; if it fails, every rank raises, so none is left waiting."""
    error: BaseException | None = None
    if info.is_main:
        try:
            work()
        except Exception as exc:  # re-raised below, after the other ranks have heard of it
            error = exc
    if any_rank(error is not None, info, pick_device(info)):
        raise error or PtftError("rank 0 failed (its message is above); this rank stops too")


def barrier(info: Dist) -> None:
    if info.world > 1:
        dist.barrier()


def json_from_rank0(value: Any, info: Dist) -> Any:
    """Rank 0's JSON-serialisable value on every rank (sent as UTF-8 bytes: no pickle, unlike
    `broadcast_object_list`)."""
    if info.world == 1:
        return value
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    payload = json.dumps(value).encode() if info.rank == 0 else b""
    size = torch.tensor([len(payload)], dtype=torch.int64, device=device)
    dist.broadcast(size, src=0)
    data = torch.zeros(int(size.item()), dtype=torch.uint8, device=device)
    if info.rank == 0:
        data.copy_(torch.frombuffer(bytearray(payload), dtype=torch.uint8))
    dist.broadcast(data, src=0)
    return json.loads(bytes(data.cpu().tolist()).decode())

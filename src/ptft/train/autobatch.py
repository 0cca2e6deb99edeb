"""Out of memory: an actionable message instead of an allocator's traceback, and `--batch-size auto`.

`largest_batch` tries a forward + backward step at growing batch sizes (doubling, then a binary search
between the last size that fitted and the first that did not) on the longest examples, so the size it
returns also fits the worst batch the run will meet.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ptft.data.batch import Batch
from ptft.errors import PtftError
from ptft.train.distributed import autocast

MAX_AUTO_BATCH = 4096
FIRST_TRY = 8


class OutOfMemory(PtftError):
    """A step did not fit in memory."""


def is_out_of_memory(error: BaseException) -> bool:
    """CUDA's OutOfMemoryError, or the CPU allocator's RuntimeError."""
    if isinstance(error, torch.OutOfMemoryError):
        return True
    text = str(error).lower()
    return isinstance(error, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def out_of_memory_message(batch_size: int, x: Batch, accumulate: int) -> str:
    smaller = max(1, batch_size // 2)
    return (
        f"out of memory at batch size {batch_size} with inputs {x.describe()}: lower --batch-size (e.g. {smaller}, "
        f"with --accumulate {2 * accumulate} to keep the effective batch), shorten --max-length for text, "
        "or pass --batch-size auto to find the largest batch that fits"
    )


def largest_batch(fits: Callable[[int], bool], limit: int, first: int = FIRST_TRY) -> int:
    """The largest b <= limit with fits(b), assuming that fitting is monotone in b; 0 if even 1 does not fit."""
    good, bad = 0, limit + 1
    b = min(first, limit)
    while b <= limit and fits(b):  # grow until something fails or the limit is reached
        good = b
        if b == limit:
            return b
        b = min(2 * b, limit)
    bad = b if b <= limit else bad
    if good == 0:  # the first try failed: search below it
        bad, b = b, 1
        if not fits(1):
            return 0
        good = 1
    while bad - good > 1:
        middle = (good + bad) // 2
        good, bad = (middle, bad) if fits(middle) else (good, middle)
    return good


def auto_batch_size(
    objective: nn.Module,
    x: Batch | torch.Tensor,
    y: torch.Tensor | None,
    precision: str,
    device: torch.device,
    limit: int = 0,
) -> int:
    """The largest batch (up to `limit` or MAX_AUTO_BATCH, and the data size) whose forward + backward step
    fits in memory, tried on the longest examples (`x.lengths`) first. The probing leaves no trace: weights,
    buffers (batch-norm statistics) and the random state are as they were, so the run is the one an explicit
    --batch-size of that value gives."""
    x = Batch.of(x)
    lengths = x.lengths
    order = torch.argsort(lengths, descending=True) if lengths is not None else torch.arange(len(x))
    objective.to(device).train()
    state = {k: v.detach().clone() for k, v in objective.state_dict().items()}
    rng = torch.get_rng_state()

    def fits(b: int) -> bool:
        index = order[:b]
        try:
            with autocast(precision, device):
                loss = objective(x.rows(index).to(device), None if y is None else y[index].to(device))
            loss.backward()
            return True
        except Exception as error:  # noqa: BLE001  (only memory errors are an answer; others propagate)
            if not is_out_of_memory(error):
                raise
            return False
        finally:
            objective.zero_grad(set_to_none=True)
            if device.type == "cuda":
                torch.cuda.empty_cache()

    try:
        found = largest_batch(fits, min(limit or MAX_AUTO_BATCH, len(x)))
    finally:
        objective.load_state_dict(state)
        torch.set_rng_state(rng)
    if found == 0:
        raise OutOfMemory(out_of_memory_message(1, x.rows(order[:1]), 1).replace("lower --batch-size (e.g. 1, ", "("))
    return found

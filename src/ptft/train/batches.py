"""A deterministic, resumable stream of batches over in-memory tensors.

Each epoch draws a permutation from (seed, epoch) alone, so the position `(epoch, offset)` is the
whole state: resuming continues with exactly the samples an uninterrupted run would see. Under
torchrun each rank takes its own slice of every global batch (global batch = batch_size x world).

With `lengths` (token counts of texts) batches are length-bucketed: the epoch's permutation is cut
into chunks of BUCKET_BATCHES global batches, each chunk is sorted by length, and the chunk's batches
are shuffled again; a batch then holds texts of similar length, so little of it is padding, while
which texts meet in a batch stays random. Still a pure function of (seed, epoch).

With `workers` > 0 the rows of coming batches are gathered (and, for a prepared corpus, read and
padded) ahead of the model by that many DataLoader worker processes. Which indices form which batch is
still decided in the main process from (seed, epoch, offset), so a run gives the same batches, bit for bit,
with any number of workers, and the state saved for a resume is the position of the batch the model
consumed last, not of those prefetched. Workers draw no random numbers (masking and augmentation happen
in the objective, on the main process's seeded generator); their own torch seeds are still distinct
(DataLoader's base seed, from a generator seeded by `seed`, plus the worker id), and the global random
state is never touched by starting them.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any, Protocol

import torch
from torch.utils.data import DataLoader, Dataset

from ptft.data.batch import Batch
from ptft.errors import PtftError

BUCKET_BATCHES = 50
PREFETCH_PER_WORKER = 2  # batches each worker prepares ahead
# fork shares the data with the workers; other start methods would copy in-memory data into each
_FORK = multiprocessing.get_context("fork") if "fork" in multiprocessing.get_all_start_methods() else None


@dataclass
class StreamState:
    epoch: int = 0
    offset: int = 0  # index into the epoch's permutation of the next global batch


class Rows(Protocol):
    """What a stream draws from: a Batch of every example, or rows read when asked for (a prepared corpus
    on disk, `ptft.preprocess.shards.TokenShards`; memory-mapped images). A plain tensor is read as a
    one-tensor batch."""

    def __len__(self) -> int: ...
    def __getitem__(self, index: torch.Tensor) -> Batch | torch.Tensor: ...


class _Gather(Dataset):
    """What a worker runs: the rows (and labels) at a batch's indices."""

    def __init__(self, x: Batch | Rows, y: torch.Tensor | None) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitems__(self, indices: list[int]) -> tuple[Batch, torch.Tensor | None] | PtftError:
        index = torch.tensor(indices, dtype=torch.long)
        try:
            return _rows(self.x, index), (None if self.y is None else self.y[index])
        except PtftError as error:  # handed back as it is: DataLoader would wrap it in a worker traceback
            return error


def _as_batch(batch: Any) -> Any:
    return batch  # __getitems__ already returns the batch; the default collate would wrap it again


def _rows(x: Batch | Rows, index: torch.Tensor) -> Batch:
    return x.rows(index) if isinstance(x, Batch) else Batch.of(x[index])


class BatchStream:
    def __init__(
        self,
        x: Batch | Rows | torch.Tensor,
        y: torch.Tensor | None,
        batch_size: int,
        seed: int,
        rank: int = 0,
        world: int = 1,
        lengths: torch.Tensor | None = None,
        workers: int = 0,
    ) -> None:
        """`lengths`: per-example sizes to bucket by; by default the rows' own (`x.lengths`: real positions
        of padded examples, None for fixed-size ones)."""
        if len(x) == 0:
            raise ValueError("cannot stream batches from an empty dataset")
        rows: Batch | Rows = Batch.of(x) if isinstance(x, torch.Tensor) else x
        self.x, self.y = rows, y
        self.lengths = lengths if lengths is not None else getattr(rows, "lengths", None)
        self.batch_size = batch_size
        self.seed, self.rank, self.world, self.workers = seed, rank, world, workers
        self.global_batch = min(batch_size * world, len(x) - len(x) % world or len(x))
        self.state = StreamState()
        self._perms: dict[int, torch.Tensor] = {}  # epoch -> its order, from the consumed epoch on
        self._prefetched: Iterator[tuple[Batch, torch.Tensor | None]] | None = None

    @property
    def steps_per_epoch(self) -> int:
        return max(1, len(self.x) // self.global_batch)

    def _permutation(self, epoch: int) -> torch.Tensor:
        if epoch not in self._perms:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            perm = torch.randperm(len(self.x), generator=gen, dtype=torch.int32)  # 4 bytes a row; same order
            if self.lengths is not None:
                perm = self._bucketed(perm, gen)
            # keep the epochs from the consumed one on: the workers may be an epoch (or, with tiny epochs, more) ahead
            self._perms = {e: p for e, p in self._perms.items() if e >= self.state.epoch} | {epoch: perm}
        return self._perms[epoch]

    def _bucketed(self, perm: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        assert self.lengths is not None
        size, chunk = self.global_batch, self.global_batch * BUCKET_BATCHES
        out = torch.empty_like(perm)  # filled chunk by chunk: no per-batch pieces held (13 M rows: ~1 M of them)
        for start in range(0, len(perm), chunk):
            part = perm[start : start + chunk]
            part = part[torch.argsort(self.lengths[part.long()], stable=True)]
            order = torch.randperm(-(-len(part) // size), generator=gen)
            slots = (order[:, None] * size + torch.arange(size)).flatten()
            out[start : start + len(part)] = part[slots[slots < len(part)]]  # only the last batch can be short
        return out

    def _advance(self, state: StreamState) -> torch.Tensor:
        """This rank's indices of the global batch at `state`, moving `state` past it; a short last batch
        of an epoch is dropped."""
        if state.offset + self.global_batch > len(self.x):
            state.epoch, state.offset = state.epoch + 1, 0
        perm = self._permutation(state.epoch)
        index = perm[state.offset : state.offset + self.global_batch]
        state.offset += self.global_batch
        per_rank = len(index) // self.world
        return index[self.rank * per_rank : (self.rank + 1) * per_rank].long()

    def _schedule(self, state: StreamState) -> Iterator[list[int]]:
        """The index lists of every batch from `state` on (the workers' batch sampler)."""
        while True:
            yield self._advance(state).tolist()

    def _start_workers(self) -> Iterator[tuple[Batch, torch.Tensor | None]]:
        loader = DataLoader(
            _Gather(self.x, self.y),
            batch_sampler=self._schedule(replace(self.state)),
            num_workers=self.workers,
            collate_fn=_as_batch,
            prefetch_factor=PREFETCH_PER_WORKER,
            # workers' seeds: from this generator (so the global random state is left alone), distinct per rank
            generator=torch.Generator().manual_seed(self.seed * 1_000_003 + self.rank),
            multiprocessing_context=_FORK,
        )
        return iter(loader)

    def next(self) -> tuple[Batch, torch.Tensor | None]:
        """This rank's part of the next global batch."""
        if self.workers == 0:
            index = self._advance(self.state)
            return _rows(self.x, index), (None if self.y is None else self.y[index])
        if self._prefetched is None:
            self._prefetched = self._start_workers()
        self._advance(self.state)  # the consumed position, for state_dict; the workers run ahead of it
        batch = next(self._prefetched)
        if isinstance(batch, PtftError):
            raise batch
        return batch

    def close(self) -> None:
        """Stop the workers (they also stop when the stream is garbage-collected)."""
        self._prefetched = None

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.state.epoch, "offset": self.state.offset}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.state = StreamState(int(state["epoch"]), int(state["offset"]))
        self._prefetched = None  # prefetched batches belong to the old position

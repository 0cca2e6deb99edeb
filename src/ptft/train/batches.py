"""A deterministic, resumable stream of batches over in-memory tensors.

Each epoch draws a permutation from (seed, epoch) alone, so the position `(epoch, offset)` is the
whole state: resuming continues with exactly the samples an uninterrupted run would see. Under
torchrun each rank takes its own slice of every global batch (global batch = batch_size x world).

With `lengths` (token counts of texts) batches are length-bucketed: the epoch's permutation is cut
into chunks of BUCKET_BATCHES global batches, each chunk is sorted by length, and the chunk's batches
are shuffled again; a batch then holds texts of similar length, so little of it is padding, while
which texts meet in a batch stays random. Still a pure function of (seed, epoch).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch

BUCKET_BATCHES = 50


@dataclass
class StreamState:
    epoch: int = 0
    offset: int = 0  # index into the epoch's permutation of the next global batch


class Rows(Protocol):
    """What a stream draws from: a tensor, or a memory-mapped corpus (`ptft.data.shards.TokenShards`)."""

    def __len__(self) -> int: ...
    def __getitem__(self, index: torch.Tensor) -> torch.Tensor: ...


class BatchStream:
    def __init__(
        self,
        x: torch.Tensor | Rows,
        y: torch.Tensor | None,
        batch_size: int,
        seed: int,
        rank: int = 0,
        world: int = 1,
        lengths: torch.Tensor | None = None,
    ) -> None:
        if len(x) == 0:
            raise ValueError("cannot stream batches from an empty dataset")
        self.x, self.y, self.lengths = x, y, lengths
        self.batch_size = batch_size
        self.seed, self.rank, self.world = seed, rank, world
        self.global_batch = min(batch_size * world, len(x) - len(x) % world or len(x))
        self.state = StreamState()
        self._perm_epoch = -1
        self._perm = torch.empty(0, dtype=torch.long)

    @property
    def steps_per_epoch(self) -> int:
        return max(1, len(self.x) // self.global_batch)

    def _permutation(self, epoch: int) -> torch.Tensor:
        if epoch != self._perm_epoch:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            perm = torch.randperm(len(self.x), generator=gen)
            if self.lengths is not None:
                perm = self._bucketed(perm, gen)
            self._perm, self._perm_epoch = perm, epoch
        return self._perm

    def _bucketed(self, perm: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        assert self.lengths is not None
        size, chunk = self.global_batch, self.global_batch * BUCKET_BATCHES
        out: list[torch.Tensor] = []
        for start in range(0, len(perm), chunk):
            part = perm[start : start + chunk]
            part = part[torch.argsort(self.lengths[part], stable=True)]
            batches = list(part.split(size))
            order = torch.randperm(len(batches), generator=gen).tolist()
            out.extend(batches[i] for i in order)
        return torch.cat(out)

    def next(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """This rank's part of the next global batch; a short last batch of an epoch is dropped."""
        if self.state.offset + self.global_batch > len(self.x):
            self.state = StreamState(self.state.epoch + 1, 0)
        perm = self._permutation(self.state.epoch)
        index = perm[self.state.offset : self.state.offset + self.global_batch]
        self.state.offset += self.global_batch
        per_rank = len(index) // self.world
        index = index[self.rank * per_rank : (self.rank + 1) * per_rank]
        return self.x[index], (None if self.y is None else self.y[index])

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.state.epoch, "offset": self.state.offset}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.state = StreamState(int(state["epoch"]), int(state["offset"]))

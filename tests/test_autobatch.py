"""Out of memory: the loop's message names the batch size, the shape and the flags; `--batch-size auto`
finds the largest batch that fits (simulated OOM), leaves no trace on the model, and resume reuses it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import ptft
import ptft.api
import ptft.train.autobatch as autobatch
import ptft.train.run_folder as run_folder
from ptft.api import Pretrainer
from ptft.config import LoopConfig, PretrainConfig, build
from ptft.data.batch import Batch
from ptft.data.types import ImageSet
from ptft.train.autobatch import OutOfMemory, auto_batch_size, largest_batch
from ptft.train.batches import BatchStream
from ptft.train.distributed import Dist
from ptft.train.loop import train


class Hungry(nn.Module):
    """Raises the CPU allocator's error for batches larger than `fits`; has batch-norm statistics."""

    def __init__(self, fits: int) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
        self.fits = fits

    def forward(self, batch: Batch, y: torch.Tensor | None = None) -> torch.Tensor:
        if len(batch) > self.fits:
            raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory")
        return self.encoder(batch.x).pow(2).mean() + 0 * torch.rand(1).sum()


@pytest.mark.parametrize(("limit", "fits", "want"), [(4096, 37, 37), (20, 37, 20), (100, 0, 0), (100, 1, 1), (5, 3, 3)])
def test_largest_batch_search(limit: int, fits: int, want: int) -> None:
    tried: list[int] = []

    def probe(b: int) -> bool:
        tried.append(b)
        return b <= fits

    assert largest_batch(probe, limit) == want
    assert len(tried) <= 2 * limit.bit_length() + 2  # doubling, then bisection: logarithmic


def test_auto_batch_size_finds_the_limit_and_leaves_no_trace() -> None:
    torch.manual_seed(0)
    model = Hungry(fits=24)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(100, 4)
    rng = torch.get_rng_state()
    found = auto_batch_size(model, x, None, "fp32", torch.device("cpu"))
    assert found == 24
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # BN statistics too
    assert torch.equal(rng, torch.get_rng_state())
    with pytest.raises(OutOfMemory, match="out of memory at batch size 1"):
        auto_batch_size(Hungry(fits=0), torch.randn(10, 4), None, "fp32", torch.device("cpu"))


def test_the_loop_explains_an_out_of_memory_step() -> None:
    stream = BatchStream(torch.randn(64, 4), None, 16, seed=0)
    cfg = LoopConfig(steps=2, progress=False, precision="fp32")
    with pytest.raises(
        OutOfMemory, match=r"batch size 16 with inputs x of shape \(4,\) float32.*--accumulate 2.*--batch-size auto"
    ):
        train(Hungry(fits=8), stream, cfg, None, Dist(0, 1, 0))


def test_batch_size_auto_end_to_end_and_on_resume(
    tmp_path: Path, labelled_images: ImageSet, tiny: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert build(PretrainConfig, {"batch_size": "auto"}).loop.batch_size == 0
    monkeypatch.setattr(autobatch, "MAX_AUTO_BATCH", 32)
    options = {**tiny, "encoder": "mlp", "batch_size": "auto", "steps": 4, "checkpoint_every": 2}
    with pytest.raises(ptft.api.RunInterrupted):
        Pretrainer(out=str(tmp_path / "r"), **options).fit(labelled_images, stop_at=2)
    assert json.loads((tmp_path / "r" / "batch_size.json").read_text()) == {"batch_size": 32}
    monkeypatch.setattr(autobatch, "auto_batch_size", lambda *a, **k: pytest.fail("resume must not search again"))
    monkeypatch.setattr(run_folder, "auto_batch_size", lambda *a, **k: pytest.fail("resume must not search again"))
    done = Pretrainer(out=str(tmp_path / "r"), resume=True, **options).fit(labelled_images)
    assert done.result.steps == 4 and ptft.load(tmp_path / "r").meta["metrics"]["items_seen"] == 4 * 32

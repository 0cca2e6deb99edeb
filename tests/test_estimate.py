"""`--dry-run`: FLOPs counted exactly on a known model, nothing written, and the time estimate within a
factor of 2 of the real run of the same tiny configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from ptft import cli
from ptft.api import Pretrainer
from ptft.config import LoopConfig
from ptft.data.batch import Batch
from ptft.data.types import ImageSet
from ptft.train.batches import BatchStream
from ptft.train.distributed import Dist
from ptft.train.estimate import estimate


class LinearLoss(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(10, 20, bias=False)

    def forward(self, batch: Batch, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.fc(batch.x).pow(2).mean()


def test_flops_and_memory_of_a_known_model() -> None:
    stream = BatchStream(torch.randn(64, 10), None, 8, seed=0)
    result = estimate(LinearLoss(), stream, LoopConfig(steps=10, precision="fp32"), Dist(0, 1, 0))
    # forward x @ W.T: 2*8*10*20; backward: the weight gradient only (x needs none): the same again
    assert result.flops_per_step == 2 * (2 * 8 * 10 * 20)
    assert result.parameters == result.trainable == 200
    assert result.weights_bytes == 800 and result.training_state_bytes == 2400
    assert result.activation_bytes >= 8 * 10 * 4  # at least the saved input
    assert result.steps == 10 and result.seconds >= 10 * result.seconds_per_step > 0


def test_dry_run_writes_nothing_and_predicts_the_run_time(
    tmp_path: Path, labelled_images: ImageSet, tiny: dict[str, Any], capsys: Any
) -> None:
    import torch.utils.tensorboard  # noqa: F401  (a one-off import cost of the real run, not a per-step one)

    options = {**tiny, "encoder": "mlp", "steps": 400, "log_every": 1000}
    ratios = []
    for attempt in range(3):  # timings on a shared machine are noisy: up to three tries, one must land
        dry = Pretrainer(out=str(tmp_path / f"dry{attempt}"), dry_run=True, **options).fit(labelled_images)
        assert not (tmp_path / f"dry{attempt}").exists() and dry.estimate_.steps == 400
        took = min(  # the real run is timed twice and the faster one counts
            Pretrainer(out=str(tmp_path / f"{attempt}{n}"), **options).fit(labelled_images).result.seconds
            for n in "ab"
        )
        ratios.append(dry.estimate_.seconds / took)
        if 0.5 <= ratios[-1] <= 2.0:
            break
    assert 0.5 <= ratios[-1] <= 2.0, ratios


def test_dry_run_from_the_cli(tmp_path: Path, npz_path: Path, capsys: Any) -> None:
    argv = ["pretrain", "--data", str(npz_path), "--out", str(tmp_path / "r"), "--dry-run", "--encoder", "mlp"]
    assert cli.main([*argv, "--dim", "16", "--depth", "2", "--steps", "40", "--batch-size", "8"]) == 0
    out = capsys.readouterr().out
    assert "nothing was written" in out and "FLOPs per step" in out and "estimated time    40 steps" in out
    assert not (tmp_path / "r").exists()

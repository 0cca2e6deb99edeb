"""--on-nonfinite: `halt` stops at the first NaN/inf loss or gradient with a clear message; `skip` leaves
the weights unchanged for that step, counts it, and stops after --max-skips in a row."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from ptft.config import LoopConfig
from ptft.data.batch import Batch
from ptft.train.batches import BatchStream
from ptft.train.distributed import Dist
from ptft.train.guards import NonFiniteLoss
from ptft.train.loop import train


class Poisoned(nn.Module):
    """A linear regression whose loss is NaN on the calls listed in `bad`; remembers the weights it saw."""

    def __init__(self, bad: set[int]) -> None:
        super().__init__()
        self.encoder = nn.Linear(4, 1)
        self.bad, self.calls, self.seen = bad, 0, []

    def forward(self, batch: Batch, y: torch.Tensor | None = None) -> torch.Tensor:
        self.seen.append(self.encoder.weight.detach().clone())
        loss = self.encoder(batch.x).pow(2).mean()
        if self.calls in self.bad:
            loss = loss * float("nan")
        self.calls += 1
        return loss


def run(bad: set[int], **options: object) -> tuple[Poisoned, object]:
    torch.manual_seed(0)
    model = Poisoned(bad)
    stream = BatchStream(torch.randn(64, 4), None, 8, seed=0)
    cfg = LoopConfig(steps=8, lr=0.1, warmup=0.0, progress=False, precision="fp32", **options)  # type: ignore[arg-type]
    return model, train(model, stream, cfg, None, Dist(0, 1, 0))


def test_halt_stops_at_the_first_nonfinite_step() -> None:
    with pytest.raises(NonFiniteLoss, match=r"non-finite loss nan.* at step 3: lower --lr.*--on-nonfinite skip"):
        run({3})


def test_skip_leaves_the_weights_unchanged_for_that_step_and_counts_it() -> None:
    model, result = run({2, 3}, on_nonfinite="skip")
    assert result.steps == 8 and result.skipped == 2  # type: ignore[attr-defined]
    seen = model.seen
    assert torch.equal(seen[3], seen[2]) and torch.equal(seen[4], seen[2])  # steps 2 and 3 changed nothing
    assert not torch.equal(seen[2], seen[1]) and not torch.equal(seen[5], seen[4])  # the others did
    assert all(torch.isfinite(w).all() for w in seen)


def test_skip_gives_up_after_max_skips_in_a_row() -> None:
    with pytest.raises(NonFiniteLoss, match="3 steps in a row, more than --max-skips"):
        run({1, 2, 3, 4}, on_nonfinite="skip", max_skips=2)
    _, result = run({1, 2, 4, 5}, on_nonfinite="skip", max_skips=2)  # never more than 2 in a row
    assert result.skipped == 4  # type: ignore[attr-defined]


def test_gradient_norm_every_step_and_clipping(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The gradient norm of every step reaches TensorBoard (the jsonl lines carry the largest since the previous
    line), and the optimizer only ever sees gradients clipped to --clip-norm."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    stepped_with: list[float] = []
    original = torch.optim.AdamW.step

    def step_and_record(self: torch.optim.AdamW, *args: object, **kwargs: object) -> object:
        grads = [p.grad.flatten() for group in self.param_groups for p in group["params"] if p.grad is not None]
        stepped_with.append(float(torch.cat(grads).norm()))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", step_and_record)
    torch.manual_seed(0)
    model = Poisoned(set())
    stream = BatchStream(100 * torch.randn(64, 4), None, 8, seed=0)  # large inputs: large gradients
    cfg = LoopConfig(steps=8, lr=0.1, warmup=0.0, progress=False, precision="fp32", clip_norm=0.5, log_every=4)
    train(model, stream, cfg, tmp_path, Dist(0, 1, 0))

    events = EventAccumulator(str(tmp_path / "logs"))
    events.Reload()
    norms = [(e.step, e.value) for e in events.Scalars("grad_norm")]
    assert [s for s, _ in norms] == list(range(1, 9))  # every step
    assert min(v for _, v in norms) > 0.5  # the norms before clipping: all above the limit here
    assert len(stepped_with) == 8 and max(stepped_with) == pytest.approx(0.5, rel=1e-4)  # what AdamW got: clipped
    lines = [json.loads(line) for line in (tmp_path / "logs" / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in lines] == [4, 8]
    assert lines[0]["grad_norm_max"] == pytest.approx(max(v for s, v in norms if s <= 4), rel=1e-6)

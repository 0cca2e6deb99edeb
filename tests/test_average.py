"""--ema: the weight average against a naive loop of its definition, what the loop validates and keeps,
and the option's bounds; and that --steps with an unreached --max-minutes runs exactly --steps (what
`--select fixed` relies on). That an interrupted run with --ema resumes bit for bit: test_resume_and_bundle."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ptft.config import LoopConfig
from ptft.data.batch import Batch
from ptft.errors import ConfigError
from ptft.train.average import WeightAverage, decay_at
from ptft.train.batches import BatchStream
from ptft.train.distributed import Dist
from ptft.train.loop import train


class Recorder(nn.Module):
    """A linear regression with a norm layer that records its live weights after every optimiser step."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Linear(3, 1))
        self.after: list[dict[str, torch.Tensor]] = []

    def forward(self, batch: Batch, y: torch.Tensor | None = None) -> torch.Tensor:
        return (self.encoder(batch.x) - 1.0).pow(2).mean()

    def after_step(self, progress: float) -> None:
        self.after.append({k: v.detach().clone() for k, v in self.state_dict().items()})


def naive_average(history: list[dict[str, torch.Tensor]], start: dict[str, torch.Tensor], decay: float):
    average = {k: v.clone() for k, v in start.items()}
    for t, live in enumerate(history, start=1):
        d = min(decay, (1 + t) / (10 + t))
        for k, v in live.items():
            average[k] = v.clone() if not v.is_floating_point() else d * average[k] + (1 - d) * v
    return average


def test_decay_warms_up_then_holds() -> None:
    assert decay_at(0.999, 1) == pytest.approx(2 / 11)
    assert decay_at(0.999, 90) == pytest.approx(91 / 100)
    assert decay_at(0.999, 10**6) == 0.999


def test_update_follows_the_definition_and_copies_integer_entries() -> None:
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    start = {k: v.clone() for k, v in module.state_dict().items()}
    average, history = WeightAverage(module, 0.9), []
    for t in range(1, 6):
        with torch.no_grad():
            for p in module.parameters():
                p.add_(torch.randn_like(p))
        module.train()(torch.randn(8, 3))  # moves the norm statistics and its step counter
        history.append({k: v.clone() for k, v in module.state_dict().items()})
        average.update(module, t)
    expected = naive_average(history, start, 0.9)
    for key, value in average.shadow.items():
        torch.testing.assert_close(value, expected[key])
    assert int(average.shadow["1.num_batches_tracked"]) == 5


def test_swapped_in_gives_the_average_inside_and_the_live_weights_after() -> None:
    module = nn.Linear(2, 1)
    live = {k: v.clone() for k, v in module.state_dict().items()}
    average = WeightAverage(module, 0.5, {k: torch.zeros_like(v) for k, v in live.items()})
    with average.swapped_in(module):
        assert all(float(v.abs().sum()) == 0 for v in module.state_dict().values())
    assert all(torch.equal(module.state_dict()[k], v) for k, v in live.items())


def test_a_saved_average_must_match_the_model() -> None:
    with pytest.raises(ValueError, match="does not match"):
        WeightAverage(nn.Linear(2, 1), 0.9, {"weight": torch.zeros(1, 2)})


def run(ema: float, evaluate: bool) -> tuple[Recorder, dict[str, torch.Tensor], list[dict[str, torch.Tensor]]]:
    torch.manual_seed(0)
    model = Recorder()
    start = {k: v.clone() for k, v in model.state_dict().items()}
    seen: list[dict[str, torch.Tensor]] = []

    def hook() -> dict[str, float]:  # what the loop validates: record the weights it was shown
        seen.append({k: v.clone() for k, v in model.state_dict().items()})
        return {"accuracy": 1.0 if len(seen) == 2 else 0.0}  # the second evaluation is the best

    stream = BatchStream(torch.randn(64, 4), None, 8, seed=0)
    cfg = LoopConfig(steps=9, lr=0.05, warmup=0.0, progress=False, precision="fp32", ema=ema, eval_every=3)
    train(model, stream, cfg, None, Dist(0, 1, 0), evaluate=hook if evaluate else None)
    return model, start, seen


def test_the_loop_validates_and_keeps_the_average() -> None:
    model, start, seen = run(0.8, evaluate=True)
    for i, step in enumerate((3, 6, 9)):  # validated: the average after that step, not the live weights
        expected = naive_average(model.after[:step], start, 0.8)
        torch.testing.assert_close(seen[i]["encoder.0.weight"], expected["encoder.0.weight"])
        assert not torch.allclose(seen[i]["encoder.0.weight"], model.after[step - 1]["encoder.0.weight"])
    torch.testing.assert_close(model.state_dict()["encoder.0.weight"], seen[1]["encoder.0.weight"])  # the best: 2nd


def test_without_validation_the_run_ends_on_the_average() -> None:
    model, start, _ = run(0.8, evaluate=False)
    expected = naive_average(model.after, start, 0.8)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, expected[key])
    plain, _, _ = run(0.0, evaluate=False)  # off: the live weights of the last step
    assert torch.equal(plain.state_dict()["encoder.0.weight"], plain.after[-1]["encoder.0.weight"])


def test_a_time_budget_that_is_not_reached_runs_exactly_the_planned_steps() -> None:
    # the schedule is re-fitted to --max-minutes every 5 steps; at the last planned step that must not add one
    stream = BatchStream(torch.randn(64, 4), None, 8, seed=0)
    cfg = LoopConfig(steps=10, max_minutes=60, progress=False, precision="fp32", ema=0.9)
    assert train(Recorder(), stream, cfg, None, Dist(0, 1, 0)).steps == 10


@pytest.mark.parametrize("ema", [-0.1, 1.0, 1.5])
def test_ema_out_of_range_is_refused(ema: float) -> None:
    with pytest.raises(ConfigError, match=r"option 'ema' is a decay in \[0, 1\)"):
        LoopConfig(ema=ema)

"""BYOL (`--objective byol`): the loss against a naive reference, the momentum schedule, the target moving by
its EMA after each optimiser step and never by the optimiser, and a pre-training run that keeps only the
online encoder (and refuses a text encoder)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from ptft import cli
from ptft.api import Pretrainer
from ptft.config import ModelConfig
from ptft.models import build_encoder
from ptft.models.specs import image_encoder_spec
from ptft.objectives import build_objective
from ptft.objectives.byol import byol_loss, ema_update, target_momentum
from ptft.train.checkpoint import read_bundle
from ptft.train.optim import make_optimizer
from tests.conftest import synthetic_images

CNN = image_encoder_spec(ModelConfig(encoder="cnn", dim=8, depth=2, activation="relu"), (1, 16, 16), "cnn")


def test_the_loss_is_two_minus_two_cosines_symmetrised() -> None:
    torch.manual_seed(0)
    p1, p2, t1, t2 = (torch.randn(6, 5) * 3 for _ in range(4))
    naive = 0.0
    for p, t in ((p1, t2), (p2, t1)):
        for i in range(6):
            a, b = p[i] / p[i].norm(), t[i] / t[i].norm()
            naive += float(((a - b) ** 2).sum()) / 6
    assert byol_loss(p1, p2, t1, t2).item() == pytest.approx(naive, rel=1e-5)
    assert byol_loss(p1, p2, 2 * p2, 5 * p1).item() == pytest.approx(0.0, abs=1e-5)  # scale does not matter
    t2.requires_grad_(True)
    byol_loss(p1.requires_grad_(True), p2, t1, t2).backward()
    assert p1.grad is not None and t2.grad is None  # no gradient into the target


def test_the_momentum_rises_from_its_base_to_one_and_the_ema_moves_by_one_minus_it() -> None:
    assert target_momentum(0.99, 0.0) == pytest.approx(0.99)
    assert target_momentum(0.99, 0.5) == pytest.approx(0.995)
    assert target_momentum(0.99, 1.0) == pytest.approx(1.0) and target_momentum(0.99, 2.0) == pytest.approx(1.0)
    online, target = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    before = target.weight.detach().clone()
    ema_update(target, online, 0.9)
    assert torch.allclose(target.weight, 0.9 * before + 0.1 * online.weight)


def test_the_target_starts_as_the_encoder_and_follows_it_only_through_after_step() -> None:
    torch.manual_seed(0)
    objective = build_objective("byol", build_encoder(CNN), {"momentum": 0.5})
    target = objective.target["encoder"]
    pairs = list(zip(objective.encoder.parameters(), target.parameters(), strict=True))
    assert all(torch.equal(o, t) for o, t in pairs)
    optimizer = make_optimizer([{"params": list(objective.parameters()), "lr": 0.05}], 0.0)
    assert not {id(p) for g in optimizer.param_groups for p in g["params"]} & {id(p) for p in target.parameters()}
    x = torch.from_numpy(synthetic_images(16, size=16).images).float() / 255
    objective(x).backward()
    optimizer.step()
    assert all(t.grad is None for t in target.parameters())
    moved = [(o.detach().clone(), t.detach().clone()) for o, t in pairs]
    assert any(not torch.equal(o, t) for o, t in moved)  # the online encoder moved, the target did not
    objective.after_step(0.0)  # momentum 0.5: halfway to the online weights
    assert all(torch.allclose(t, (o + t0) / 2) for (o, t0), t in zip(moved, target.parameters(), strict=True))


def test_byol_pre_trains_an_image_encoder_and_refuses_a_text_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    Pretrainer(out=str(run), objective="byol", encoder="cnn", dim=8, depth=2, steps=3, batch_size=16,
               progress=False, precision="fp32").fit(synthetic_images(64))  # fmt: skip
    meta, tensors = read_bundle(run)
    assert meta["objective"] == "byol" and meta["objective_options"] == {"momentum": 0.99, "projection_dim": 128}
    assert tensors and all(k.startswith("encoder.") for k in tensors)  # the online encoder only
    pool = tmp_path / "pool.txt"
    pool.write_text("a few words\nand a few more\n")
    code = cli.main(["pretrain", "--data", str(pool), "--objective", "byol", "--out", str(tmp_path / "x")])
    assert code == 2 and "objective 'byol' trains image encoders" in capsys.readouterr().err
    assert json.loads((run / "ptft.json").read_text())["kind"] == "pretrain"

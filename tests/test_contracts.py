"""Contract tests over the registries: every encoder x every objective trains one step (finite loss,
gradients in every encoder parameter), every activation builds and runs, the encoder surface holds, and
pre-train -> save -> load gives the same embeddings as the in-memory model, preprocessing included."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import save

import ptft
import ptft.api
from ptft.api import Pretrainer
from ptft.data.types import ImageSet
from ptft.models import ACTIVATIONS, ENCODERS, Encoder, build_encoder, mean_pool
from ptft.objectives import OBJECTIVES, build_objective
from ptft.preprocess import ImageNormalizer

INPUT_SHAPE = (1, 16, 16)
ENCODER_NAMES = ENCODERS.names()
OBJECTIVE_NAMES = OBJECTIVES.names()


def spec(name: str, activation: str = "gelu") -> dict[str, Any]:
    return {
        "name": name,
        "input_shape": list(INPUT_SHAPE),
        "dim": 16,
        "depth": 2,
        "heads": 2,
        "patch_size": 4,
        "activation": activation,
        "dropout": 0.0,
    }


def batch(images: ImageSet, n: int = 8) -> torch.Tensor:
    return ImageNormalizer().fit(images.images).transform(images.images[:n])


def test_registries_hold_the_documented_names() -> None:
    # Guards the parametrisation below against silently shrinking to nothing.
    assert {"cnn", "mlp", "vit"} <= set(ENCODER_NAMES)
    assert {"simclr", "mae"} <= set(OBJECTIVE_NAMES)
    assert {"linear", "sigmoid", "relu", "tanh", "gelu"} <= set(ACTIVATIONS.names())


@pytest.mark.parametrize("name", ENCODER_NAMES)
def test_encoder_surface(name: str, labelled_images: ImageSet) -> None:
    torch.manual_seed(0)
    encoder = build_encoder(spec(name))
    assert isinstance(encoder, Encoder)
    x = batch(labelled_images, 5)
    out = encoder(x, pad_mask=None)
    assert out.ndim == 3 and out.shape[0] == 5 and out.shape[2] == encoder.dim == 16  # (B, T, D)
    assert torch.isfinite(out).all()
    assert isinstance(encoder.blocks, torch.nn.ModuleList) and len(encoder.blocks) == 2  # depth stages
    own = {id(p) for p in encoder.parameters()}
    block_params = [p for block in encoder.blocks for p in block.parameters()]
    assert block_params and all(id(p) in own for p in block_params)
    # Images are independent: one image's features do not depend on the rest of the batch (eval mode).
    encoder.eval()
    with torch.no_grad():
        torch.testing.assert_close(encoder(x)[1:2], encoder(x[1:2]), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ENCODER_NAMES)
def test_unknown_encoder_argument_is_a_config_error(name: str) -> None:
    with pytest.raises(ptft.errors.ConfigError, match=name):
        build_encoder({**spec(name), "widht": 3})


@pytest.mark.parametrize(("name", "activation"), list(itertools.product(ENCODER_NAMES, ACTIVATIONS.names())))
def test_every_activation_builds_and_runs(name: str, activation: str, labelled_images: ImageSet) -> None:
    encoder = build_encoder(spec(name, activation))
    out = encoder(batch(labelled_images, 4))
    assert out.shape[0] == 4 and out.shape[2] == 16 and torch.isfinite(out).all()
    out.mean().backward()
    assert all(p.grad is not None for p in encoder.parameters())


@pytest.mark.parametrize("name", ENCODER_NAMES)
def test_the_activation_name_is_honoured(name: str, labelled_images: ImageSet) -> None:
    """Same seed, same weights: only the activation differs, so every pair of outputs must differ."""
    x = batch(labelled_images, 4)
    outputs = {}
    for activation in ACTIVATIONS.names():
        torch.manual_seed(0)
        encoder = build_encoder(spec(name, activation)).eval()
        with torch.no_grad():
            outputs[activation] = encoder(x)
    for a, b in itertools.combinations(outputs, 2):
        assert not torch.allclose(outputs[a], outputs[b], atol=1e-4), (a, b)


@pytest.mark.parametrize(("name", "objective_name"), list(itertools.product(ENCODER_NAMES, OBJECTIVE_NAMES)))
def test_one_training_step(name: str, objective_name: str, labelled_images: ImageSet) -> None:
    torch.manual_seed(0)
    encoder = build_encoder(spec(name))
    objective = build_objective(
        objective_name, encoder, input_shape=INPUT_SHAPE, patch_size=4, mask_ratio=0.5, temperature=0.2
    )
    assert objective.encoder is encoder
    objective.train()
    x = batch(labelled_images, 8)
    loss = objective(x)
    assert loss.ndim == 0 and torch.isfinite(loss) and loss.item() > 0
    loss.backward()
    for param_name, param in encoder.named_parameters():
        assert param.grad is not None, f"no gradient for encoder.{param_name}"
        assert torch.isfinite(param.grad).all(), param_name
        assert param.grad.abs().sum() > 0, f"zero gradient for encoder.{param_name}"
    before = [p.detach().clone() for p in encoder.parameters()]
    torch.optim.SGD(objective.parameters(), lr=0.1).step()
    assert any(not torch.equal(b, p) for b, p in zip(before, encoder.parameters()))


@pytest.mark.parametrize("name", [(n) if n == "vit" else n for n in ENCODER_NAMES])
def test_encoder_state_is_saveable_with_safetensors(name: str) -> None:
    save(build_encoder(spec(name)).state_dict())


def _roundtrip_params() -> list[Any]:
    pairs = itertools.product(ENCODER_NAMES, OBJECTIVE_NAMES)
    return [pytest.param(name, objective, id=f"{name}-{objective}") for name, objective in pairs]


@pytest.mark.parametrize(("name", "objective_name"), _roundtrip_params())
def test_pretrain_save_load_gives_identical_embeddings(
    name: str,
    objective_name: str,
    labelled_images: ImageSet,
    tiny: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built: list[Encoder] = []

    def keep(spec_: dict[str, Any]) -> Encoder:
        built.append(build_encoder(spec_))
        return built[-1]

    monkeypatch.setattr(ptft.api, "build_encoder", keep)  # keep a handle on the in-memory trained encoder
    trainer = Pretrainer(out=str(tmp_path / "run"), encoder=name, objective=objective_name, steps=2, **tiny)
    trainer.fit(labelled_images)
    monkeypatch.undo()
    assert len(built) == 1 and trainer.result.steps == 2

    raw = labelled_images.images[:10]
    # The preprocessing the encoder was trained with, fitted afresh on the same images, in memory.
    in_memory = built[0].eval()
    with torch.no_grad():
        expected = mean_pool(in_memory(ImageNormalizer().fit(labelled_images.images).transform(raw))).numpy()

    loaded = ptft.load(trainer.run_dir)
    got = loaded.embed(raw)
    assert got.shape == (10, 16)
    assert torch.allclose(torch.from_numpy(got), torch.from_numpy(expected), atol=1e-6)
    np.testing.assert_array_equal(got, ptft.load(trainer.run_dir).embed(raw))  # loading is deterministic
    # The comparison is sensitive to preprocessing: raw pixels in [0, 1] give other embeddings.
    with torch.no_grad():
        unnormalised = mean_pool(loaded.encoder(torch.from_numpy(raw).float() / 255)).numpy()
    assert not np.allclose(got, unnormalised, atol=1e-3)
    # And to the weights: a freshly initialised encoder gives other embeddings.
    torch.manual_seed(123)
    fresh = build_encoder(loaded.meta["encoder"]).eval()
    with torch.no_grad():
        assert not np.allclose(got, mean_pool(fresh(loaded.transform(raw))).numpy(), atol=1e-3)

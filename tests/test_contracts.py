"""Contract tests over the registries: every encoder x every objective of its modality trains one step
(finite loss, gradients in every encoder parameter), every activation builds and runs, the encoder
surface holds, and pre-train -> save -> load gives the same embeddings as the in-memory model,
preprocessing included. Image and text encoders are picked up from the registries by their `modality`."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import save

import ptft
import ptft.train.pretrain
from ptft.api import Pretrainer
from ptft.config import DataConfig, ModelConfig
from ptft.data.batch import Batch
from ptft.data.types import Examples, ImageSet
from ptft.modalities import MODALITIES, Modality
from ptft.models import ACTIVATIONS, ENCODERS, Encoder, build_encoder, mean_pool
from ptft.objectives import OBJECTIVES, build_objective
from tests.conftest import synthetic_images, synthetic_table, synthetic_texts

TEXT_OPTIONS = DataConfig(vocab_size=120, max_length=16)
ENCODER_NAMES = ENCODERS.names()
OBJECTIVE_NAMES = OBJECTIVES.names()
# Every modality's examples, preprocessing (fitted on them) and a second preprocessing fitted on other
# examples: the tests below ask the registries for everything, so a new modality is picked up by itself.
EXAMPLES: dict[str, Examples] = {
    "image": synthetic_images(64), "text": synthetic_texts(64), "table": synthetic_table(64)
}  # fmt: skip
OTHER_EXAMPLES: dict[str, Examples] = {
    "image": ImageSet(255 - synthetic_images(64, seed=5).images, source="inverted"),
    "text": synthetic_texts(64, seed=5),
    "table": synthetic_table(64, seed=5, shift=3.0),
}
FITTED = {m: MODALITIES.get(m).fit_preprocessor(EXAMPLES[m], TEXT_OPTIONS) for m in MODALITIES.names()}
OTHER = {m: MODALITIES.get(m).fit_preprocessor(OTHER_EXAMPLES[m], TEXT_OPTIONS) for m in MODALITIES.names()}
MODEL = ModelConfig(dim=16, depth=2, heads=2, patch_size=4)


def modality(name: str) -> Modality:
    return MODALITIES.get(ENCODERS.get(name).modality)


def objectives_for(name: str) -> list[str]:
    return [o for o in OBJECTIVE_NAMES if modality(name).name in OBJECTIVES.get(o).modalities]


PAIRS = [(name, objective) for name in ENCODER_NAMES for objective in objectives_for(name)]


def spec(name: str, activation: str = "gelu") -> dict[str, Any]:
    model = dataclasses.replace(MODEL, encoder=name, activation=activation)
    return modality(name).encoder_spec(model, FITTED[modality(name).name])


def batch(name: str, n: int = 8) -> Batch:
    """The first n examples of the encoder's modality, as model input."""
    m = modality(name)
    return m.batch(FITTED[m.name], EXAMPLES[m.name].subset(np.arange(n)))


def features(encoder: Encoder, x: Batch) -> torch.Tensor:
    """The encoder's (B, T, D) output for a batch, through `encode` (which every encoder has, one input or many)."""
    return encoder.encode(x)[0]


def context(name: str) -> dict[str, Any]:
    return modality(name).objective_context(MODEL, FITTED[modality(name).name])


def test_registries_hold_the_documented_names() -> None:
    # Guards the parametrisation below against silently shrinking to nothing.
    assert {"cnn", "mlp", "vit", "transformer", "bert", "table-mlp", "ft-transformer"} <= set(ENCODER_NAMES)
    assert {"simclr", "mae", "mlm", "masked-cells", "scarf"} <= set(OBJECTIVE_NAMES)
    assert ("table-mlp", "masked-cells") in PAIRS and ("ft-transformer", "scarf") in PAIRS
    assert {"linear", "sigmoid", "relu", "tanh", "gelu"} <= set(ACTIVATIONS.names())
    assert ("transformer", "mlm") in PAIRS and ("bert", "mlm") in PAIRS and ("cnn", "simclr") in PAIRS
    assert ("cnn", "mlm") not in PAIRS and ("transformer", "mae") not in PAIRS


def test_an_objective_of_another_modality_is_refused_with_the_ones_that_fit() -> None:
    with pytest.raises(ptft.errors.ConfigError, match="mlm"):
        build_objective("mae", build_encoder(spec("transformer")), None, **context("cnn"))


@pytest.mark.parametrize("name", ENCODER_NAMES)
def test_encoder_surface(name: str) -> None:
    torch.manual_seed(0)
    encoder = build_encoder(spec(name))
    assert isinstance(encoder, Encoder)
    x = batch(name, 5)
    out = features(encoder, x)
    assert out.ndim == 3 and out.shape[0] == 5 and out.shape[2] == encoder.dim == 16  # (B, T, D)
    assert torch.isfinite(out).all()
    assert isinstance(encoder.blocks, torch.nn.ModuleList) and len(encoder.blocks) == 2  # depth stages
    own = {id(p) for p in encoder.parameters()}
    block_params = [p for block in encoder.blocks for p in block.parameters()]
    assert block_params and all(id(p) in own for p in block_params)
    # Examples are independent: one example's features do not depend on the rest of the batch (eval mode),
    # padding included (a text's features at its own positions do not change when others are longer).
    encoder.eval()
    with torch.no_grad():
        alone = features(encoder, x.rows(torch.arange(1, 2)))
        torch.testing.assert_close(features(encoder, x)[1:2, : alone.shape[1]], alone, atol=1e-5, rtol=1e-5)
        mask = encoder.encode(x)[1]
        assert mask is None or mask.shape == out.shape[:2]


@pytest.mark.parametrize("name", ENCODER_NAMES)
def test_unknown_encoder_argument_is_a_config_error(name: str) -> None:
    with pytest.raises(ptft.errors.ConfigError, match=name):
        build_encoder({**spec(name), "widht": 3})


@pytest.mark.parametrize(("name", "activation"), list(itertools.product(ENCODER_NAMES, ACTIVATIONS.names())))
def test_every_activation_builds_and_runs(name: str, activation: str) -> None:
    encoder = build_encoder(spec(name, activation))
    out = features(encoder, batch(name, 4))
    assert out.shape[0] == 4 and out.shape[2] == 16 and torch.isfinite(out).all()
    out.mean().backward()
    assert all(p.grad is not None for p in encoder.parameters())


@pytest.mark.parametrize("name", ENCODER_NAMES)
def test_the_activation_name_is_honoured(name: str) -> None:
    """Same seed, same weights: only the activation differs, so every pair of outputs must differ."""
    x = batch(name, 4)
    outputs = {}
    for activation in ACTIVATIONS.names():
        torch.manual_seed(0)
        encoder = build_encoder(spec(name, activation)).eval()
        with torch.no_grad():
            outputs[activation] = features(encoder, x)
    for a, b in itertools.combinations(outputs, 2):
        assert not torch.allclose(outputs[a], outputs[b], atol=1e-4), (a, b)


@pytest.mark.parametrize(("name", "objective_name"), PAIRS)
def test_one_training_step(name: str, objective_name: str) -> None:
    torch.manual_seed(0)
    encoder = build_encoder(spec(name))
    objective = build_objective(objective_name, encoder, None, **context(name))
    assert objective.encoder is encoder
    objective.train()
    loss = objective(batch(name, 8))
    assert loss.ndim == 0 and torch.isfinite(loss) and loss.item() > 0
    loss.backward()
    for param_name, param in encoder.named_parameters():
        assert param.grad is not None, f"no gradient for encoder.{param_name}"
        assert torch.isfinite(param.grad).all(), param_name
        assert param.grad.abs().sum() > 0, f"zero gradient for encoder.{param_name}"
    before = [p.detach().clone() for p in encoder.parameters()]
    torch.optim.SGD(objective.parameters(), lr=0.1).step()
    assert any(not torch.equal(b, p) for b, p in zip(before, encoder.parameters()))


@pytest.mark.parametrize("name", ENCODER_NAMES)
def test_encoder_state_is_saveable_with_safetensors(name: str) -> None:
    save(build_encoder(spec(name)).state_dict())


def _roundtrip_params() -> list[Any]:
    return [pytest.param(name, objective, id=f"{name}-{objective}") for name, objective in PAIRS]


@pytest.mark.parametrize(("name", "objective_name"), _roundtrip_params())
def test_pretrain_save_load_gives_identical_embeddings(
    name: str, objective_name: str, tiny: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[Encoder] = []

    def keep(spec_: dict[str, Any]) -> Encoder:
        built.append(build_encoder(spec_))
        return built[-1]

    m = modality(name)
    fitted: list[Any] = []
    real_fit = m.fit_preprocessor

    def fit_and_keep(*args: Any, **kwargs: Any) -> Any:
        fitted.append(real_fit(*args, **kwargs))
        return fitted[-1]

    monkeypatch.setattr(ptft.train.pretrain, "build_encoder", keep)  # keep a handle on the in-memory trained encoder
    monkeypatch.setattr(m, "fit_preprocessor", fit_and_keep)  # and on the fitted preprocessing
    text = {"vocab_size": TEXT_OPTIONS.vocab_size, "max_length": TEXT_OPTIONS.max_length}
    trainer = Pretrainer(out=str(tmp_path / "run"), encoder=name, objective=objective_name, steps=2, **tiny, **text)
    data = EXAMPLES[m.name]
    trainer.fit(data)
    monkeypatch.undo()
    assert len(built) == 1 and trainer.result.steps == 2

    # The encoder and preprocessing the run trained with, in memory.
    in_memory = built[0].eval()
    raw: Any = m.content(data.subset(np.arange(10)))
    assert len(fitted) == 1
    with torch.no_grad():
        expected = mean_pool(*in_memory.encode(fitted[0].batch(raw))).numpy()

    loaded = ptft.load(trainer.run_dir)
    got = loaded.embed(raw)
    assert got.shape == (10, 16)
    assert torch.allclose(torch.from_numpy(got), torch.from_numpy(expected), atol=1e-6)
    np.testing.assert_array_equal(got, ptft.load(trainer.run_dir).embed(raw))  # loading is deterministic
    # Sensitive to preprocessing: one fitted on other data (another vocabulary; other pixel statistics)
    # gives other inputs, so other embeddings.
    with torch.no_grad():
        assert not np.allclose(got, mean_pool(*loaded.encoder.encode(OTHER[m.name].batch(raw))).numpy(), atol=1e-3)
    # And to the weights: a freshly initialised encoder gives other embeddings.
    torch.manual_seed(123)
    fresh = build_encoder(loaded.meta["encoder"]).eval()
    with torch.no_grad():
        assert not np.allclose(got, mean_pool(*fresh.encode(loaded.transform(raw))).numpy(), atol=1e-3)

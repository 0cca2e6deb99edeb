"""Contract tests over the registries: every encoder x every objective of its modality trains one step
(finite loss, gradients in every encoder parameter), every activation builds and runs, the encoder
surface holds, and pre-train -> save -> load gives the same embeddings as the in-memory model,
preprocessing included. Image and text encoders are picked up from the registries by their `modality`."""

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
from ptft.config import TextConfig
from ptft.data.types import ImageSet, TextSet
from ptft.models import ACTIVATIONS, ENCODERS, Encoder, build_encoder, mean_pool
from ptft.objectives import OBJECTIVES, build_objective
from ptft.preprocess import ImageNormalizer, TextPipeline
from tests.conftest import synthetic_texts

INPUT_SHAPE = (1, 16, 16)
ENCODER_NAMES = ENCODERS.names()
OBJECTIVE_NAMES = OBJECTIVES.names()
TEXT_OPTIONS = TextConfig(vocab_size=120, max_length=16)
TEXTS = synthetic_texts(64)


def modality(name: str) -> str:
    return str(getattr(ENCODERS.get(name), "modality", "image"))


def objectives_for(name: str) -> list[str]:
    return [o for o in OBJECTIVE_NAMES if modality(name) in getattr(OBJECTIVES.get(o), "modalities", ("image",))]


PAIRS = [(name, objective) for name in ENCODER_NAMES for objective in objectives_for(name)]


def text_pipeline(texts: TextSet = TEXTS) -> TextPipeline:
    pipeline = ptft.api._fit_preprocessor(texts, TEXT_OPTIONS)
    assert isinstance(pipeline, TextPipeline)
    return pipeline


PIPELINE = text_pipeline()


def spec(name: str, activation: str = "gelu") -> dict[str, Any]:
    model = ptft.config.ModelConfig(encoder=name, dim=16, depth=2, heads=2, activation=activation)
    if modality(name) == "text":
        return ptft.api.encoder_spec(model, PIPELINE)
    return ptft.api.encoder_spec(model, ImageNormalizer().fit(np.zeros((2, *INPUT_SHAPE), np.uint8)))


def data_for(name: str, images: ImageSet) -> ImageSet | TextSet:
    return TEXTS if modality(name) == "text" else images


def batch(name: str, images: ImageSet, n: int = 8) -> torch.Tensor:
    if modality(name) == "text":
        return PIPELINE.transform(TEXTS.texts[:n])
    return ImageNormalizer().fit(images.images).transform(images.images[:n])


def objective_options(name: str) -> dict[str, Any]:
    if modality(name) == "text":
        return {"mask_id": PIPELINE.tokenizer.mask_id_, "special_ids": PIPELINE.special_ids, "mask_ratio": 0.3}
    return {"input_shape": INPUT_SHAPE, "patch_size": 4, "mask_ratio": 0.5, "temperature": 0.2}


def test_registries_hold_the_documented_names() -> None:
    # Guards the parametrisation below against silently shrinking to nothing.
    assert {"cnn", "mlp", "vit", "transformer", "bert"} <= set(ENCODER_NAMES)
    assert {"simclr", "mae", "mlm"} <= set(OBJECTIVE_NAMES)
    assert {"linear", "sigmoid", "relu", "tanh", "gelu"} <= set(ACTIVATIONS.names())
    assert ("transformer", "mlm") in PAIRS and ("bert", "mlm") in PAIRS and ("cnn", "simclr") in PAIRS
    assert ("cnn", "mlm") not in PAIRS and ("transformer", "mae") not in PAIRS


def test_an_objective_of_another_modality_is_refused_with_the_ones_that_fit() -> None:
    with pytest.raises(ptft.errors.ConfigError, match="mlm"):
        build_objective("mae", build_encoder(spec("transformer")), **objective_options("cnn"))


@pytest.mark.parametrize("name", ENCODER_NAMES)
def test_encoder_surface(name: str, labelled_images: ImageSet) -> None:
    torch.manual_seed(0)
    encoder = build_encoder(spec(name))
    assert isinstance(encoder, Encoder)
    x = batch(name, labelled_images, 5)
    out = encoder(x, pad_mask=None)
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
        alone = encoder(x[1:2])
        torch.testing.assert_close(encoder(x)[1:2, : alone.shape[1]], alone, atol=1e-5, rtol=1e-5)
        mask = encoder.padding(x)
        assert mask is None or mask.shape == out.shape[:2]


@pytest.mark.parametrize("name", ENCODER_NAMES)
def test_unknown_encoder_argument_is_a_config_error(name: str) -> None:
    with pytest.raises(ptft.errors.ConfigError, match=name):
        build_encoder({**spec(name), "widht": 3})


@pytest.mark.parametrize(("name", "activation"), list(itertools.product(ENCODER_NAMES, ACTIVATIONS.names())))
def test_every_activation_builds_and_runs(name: str, activation: str, labelled_images: ImageSet) -> None:
    encoder = build_encoder(spec(name, activation))
    out = encoder(batch(name, labelled_images, 4))
    assert out.shape[0] == 4 and out.shape[2] == 16 and torch.isfinite(out).all()
    out.mean().backward()
    assert all(p.grad is not None for p in encoder.parameters())


@pytest.mark.parametrize("name", ENCODER_NAMES)
def test_the_activation_name_is_honoured(name: str, labelled_images: ImageSet) -> None:
    """Same seed, same weights: only the activation differs, so every pair of outputs must differ."""
    x = batch(name, labelled_images, 4)
    outputs = {}
    for activation in ACTIVATIONS.names():
        torch.manual_seed(0)
        encoder = build_encoder(spec(name, activation)).eval()
        with torch.no_grad():
            outputs[activation] = encoder(x)
    for a, b in itertools.combinations(outputs, 2):
        assert not torch.allclose(outputs[a], outputs[b], atol=1e-4), (a, b)


@pytest.mark.parametrize(("name", "objective_name"), PAIRS)
def test_one_training_step(name: str, objective_name: str, labelled_images: ImageSet) -> None:
    torch.manual_seed(0)
    encoder = build_encoder(spec(name))
    objective = build_objective(objective_name, encoder, **objective_options(name))
    assert objective.encoder is encoder
    objective.train()
    x = batch(name, labelled_images, 8)
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


@pytest.mark.parametrize("name", ENCODER_NAMES)
def test_encoder_state_is_saveable_with_safetensors(name: str) -> None:
    save(build_encoder(spec(name)).state_dict())


def _roundtrip_params() -> list[Any]:
    return [pytest.param(name, objective, id=f"{name}-{objective}") for name, objective in PAIRS]


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

    fitted: list[Any] = []

    def fit_and_keep(*args: Any) -> Any:
        fitted.append(real_fit(*args))
        return fitted[-1]

    real_fit = ptft.api._fit_preprocessor
    monkeypatch.setattr(ptft.api, "build_encoder", keep)  # keep a handle on the in-memory trained encoder
    monkeypatch.setattr(ptft.api, "_fit_preprocessor", fit_and_keep)  # and on the fitted preprocessing
    text = {"vocab_size": TEXT_OPTIONS.vocab_size, "max_length": TEXT_OPTIONS.max_length}
    extra = text if modality(name) == "text" else {}
    trainer = Pretrainer(out=str(tmp_path / "run"), encoder=name, objective=objective_name, steps=2, **tiny, **extra)
    data = data_for(name, labelled_images)
    trainer.fit(data)
    monkeypatch.undo()
    assert len(built) == 1 and trainer.result.steps == 2

    # The encoder and preprocessing the run trained with, in memory.
    in_memory = built[0].eval()
    raw: Any = data.texts[:10] if isinstance(data, TextSet) else data.images[:10]
    assert len(fitted) == 1
    with torch.no_grad():
        x = fitted[0].transform(raw)
        expected = mean_pool(in_memory(x), in_memory.padding(x)).numpy()

    loaded = ptft.load(trainer.run_dir)
    got = loaded.embed(raw)
    assert got.shape == (10, 16)
    assert torch.allclose(torch.from_numpy(got), torch.from_numpy(expected), atol=1e-6)
    np.testing.assert_array_equal(got, ptft.load(trainer.run_dir).embed(raw))  # loading is deterministic
    if isinstance(data, TextSet):
        # Sensitive to preprocessing: another vocabulary gives other token ids, so other embeddings.
        other = text_pipeline(synthetic_texts(64, seed=5)).transform(raw)
        with torch.no_grad():
            assert not np.allclose(
                got, mean_pool(loaded.encoder(other), loaded.encoder.padding(other)).numpy(), atol=1e-3
            )
    else:
        # The comparison is sensitive to preprocessing: raw pixels in [0, 1] give other embeddings.
        with torch.no_grad():
            unnormalised = mean_pool(loaded.encoder(torch.from_numpy(raw).float() / 255)).numpy()
        assert not np.allclose(got, unnormalised, atol=1e-3)
    # And to the weights: a freshly initialised encoder gives other embeddings.
    torch.manual_seed(123)
    fresh = build_encoder(loaded.meta["encoder"]).eval()
    with torch.no_grad():
        x = loaded.transform(raw)
        assert not np.allclose(got, mean_pool(fresh(x), fresh.padding(x)).numpy(), atol=1e-3)

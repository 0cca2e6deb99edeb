"""Label-budget splits, typed configs (conversion, unknown keys, booleans, TOML tables) and the fitted
ImageNormalizer (statistics, JSON state round trip, channel conversion, resizing, unfitted use)."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
import torch

from ptft.config import (
    EvaluateConfig,
    FinetuneConfig,
    LoopConfig,
    PretrainConfig,
    build,
    convert,
    flat_fields,
    from_dict,
    read_toml,
    to_dict,
)
from ptft.data.splits import label_budget
from ptft.errors import BundleError, ConfigError, DataError
from ptft.preprocess import ImageNormalizer, preprocessor_from_state

# ---- label budget ----


def labels_with(counts: list[int], unlabeled: int = 0, seed: int = 0) -> np.ndarray:
    labels = np.concatenate([np.full(n, k) for k, n in enumerate(counts)] + [np.full(unlabeled, -1)])
    return np.random.default_rng(seed).permutation(labels).astype(np.int64)


@pytest.mark.parametrize(("per_class", "val_per_class"), [(1, 1), (3, 2), (5, 5)])
def test_label_budget_takes_k_per_class_and_splits_disjointly(per_class: int, val_per_class: int) -> None:
    labels = labels_with([12, 10, 15], unlabeled=7)
    split = label_budget(labels, per_class, val_per_class, seed=3)
    assert np.bincount(labels[split.train], minlength=3).tolist() == [per_class] * 3
    assert np.bincount(labels[split.val], minlength=3).tolist() == [val_per_class] * 3
    parts = [set(split.train.tolist()), set(split.val.tolist()), set(split.pool.tolist())]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert parts[0] | parts[1] | parts[2] == set(range(len(labels)))  # nothing lost
    assert set(np.flatnonzero(labels < 0).tolist()) <= parts[2]  # unlabeled images go to the pool
    for part in (split.train, split.val, split.pool):
        assert np.array_equal(part, np.sort(part))


def test_label_budget_is_seeded() -> None:
    labels = labels_with([20, 20, 20, 20])
    a, b = label_budget(labels, 3, 2, seed=1), label_budget(labels, 3, 2, seed=1)
    assert all(np.array_equal(x, y) for x, y in zip((a.train, a.val, a.pool), (b.train, b.val, b.pool)))
    others = [label_budget(labels, 3, 2, seed=s).train for s in range(2, 6)]
    assert any(not np.array_equal(a.train, other) for other in others)


def test_label_budget_zero_uses_every_label_not_in_validation() -> None:
    labels = labels_with([6, 9], unlabeled=4)
    split = label_budget(labels, 0, 2, seed=0)
    assert len(split.val) == 4 and len(split.train) == 6 + 9 - 4
    assert (labels[split.pool] == -1).all() and len(split.pool) == 4


def test_a_rare_class_gives_what_it_has_with_a_warning() -> None:
    labels = labels_with([10, 4, 10])
    with pytest.warns(UserWarning, match=r"my.npz: 1 class\(es\) have fewer than 3 \+ 3 .*class 1: 2 \+ 2"):
        split = label_budget(labels, 3, 3, seed=0, source="my.npz")
    assert np.bincount(labels[split.train]).tolist() == [3, 2, 3]
    assert np.bincount(labels[split.val]).tolist() == [3, 2, 3]
    assert np.bincount(labels[split.pool]).tolist() == [4, 0, 4]


def test_label_budget_too_few_examples_names_the_class_and_the_fix() -> None:
    with pytest.raises(DataError, match=r"class 1 has 1 labelled example\(s\).*at least 2") as caught:
        label_budget(labels_with([10, 1, 10]), 3, 2, seed=0, source="my.npz")
    assert str(caught.value).startswith("my.npz:")
    with pytest.raises(DataError, match=r"class 1 has 2 labelled examples.*--val-per-class"):
        label_budget(labels_with([10, 2, 10]), 0, 2, seed=0, source="my.npz")


def test_label_budget_needs_two_classes() -> None:
    with pytest.raises(DataError, match="at least 2 classes"):
        label_budget(labels_with([10], unlabeled=5), 2, 2, seed=0)


def test_label_budget_zero_still_refuses_a_class_too_small_for_validation() -> None:
    with pytest.raises(DataError, match="class 0"):
        label_budget(labels_with([3, 20]), 0, 5, seed=0)


# ---- config ----


def test_build_converts_strings_to_field_types() -> None:
    cfg = build(PretrainConfig, {"steps": "12", "lr": "3e-4", "dim": "64", "progress": "no", "encoder": "mlp"})
    assert cfg.loop.steps == 12 and isinstance(cfg.loop.steps, int)
    assert cfg.loop.lr == 3e-4 and cfg.model.dim == 64 and cfg.loop.progress is False
    assert cfg.model.encoder == "mlp"
    assert PretrainConfig().loop.steps == 0  # the defaults are untouched (frozen, replaced not mutated)


def test_build_over_a_base_keeps_its_values() -> None:
    base = build(FinetuneConfig, {"lr": 0.5})
    cfg = build(FinetuneConfig, {"steps": 7}, base=base)
    assert cfg.loop.lr == 0.5 and cfg.loop.steps == 7 and cfg.loop.batch_size == 64  # finetune's own default


def test_unknown_key_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        build(PretrainConfig, {"stpes": 3, "lrr": 1})
    message = str(caught.value)
    assert "lrr, stpes" in message and "PretrainConfig" in message
    for key in flat_fields(PretrainConfig):
        assert key in message.split("valid:")[1]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1", True), ("true", True), ("Yes", True), (" on ", True), ("0", False), ("FALSE", False), ("no", False)]
    + [("off", False), (True, True), (False, False), (1, True), (0, False)],
)
def test_bool_parsing(text: object, expected: bool) -> None:
    assert convert("progress", bool, text) is expected


@pytest.mark.parametrize(("tp", "value"), [(bool, "maybe"), (bool, 2), (int, "1.5"), (int, 2.5), (float, "x")])
def test_bad_values_name_the_option(tp: type, value: object) -> None:
    with pytest.raises(ConfigError, match=f"option 'key': expected {tp.__name__}, got {value!r}"):
        convert("key", tp, value)


def test_integral_float_is_accepted_for_int() -> None:
    assert convert("steps", int, 3.0) == 3


def test_bool_is_not_an_int() -> None:
    with pytest.raises(ConfigError):
        convert("steps", int, True)


def test_read_toml_flattens_tables(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('objective = "mae"\n[model]\ndim = 32\n[loop]\nlr = 0.001\nprogress = false\n')
    values = read_toml(path)
    assert values == {"objective": "mae", "dim": 32, "lr": 0.001, "progress": False}
    cfg = build(PretrainConfig, values)
    assert cfg.model.dim == 32 and cfg.loop.lr == 0.001 and cfg.objective == "mae" and not cfg.loop.progress


def test_read_toml_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        read_toml(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("lr = = 3\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        read_toml(bad)


@pytest.mark.parametrize(
    ("cls", "values"),
    [(PretrainConfig, {"seed": 5, "dim": 8}), (FinetuneConfig, {"strategy": "linear"}), (EvaluateConfig, {"run": "x"})],
)
def test_to_dict_from_dict_round_trip(cls: type, values: dict[str, object]) -> None:
    cfg = build(cls, values)
    assert cfg != cls()
    assert from_dict(cls, json.loads(json.dumps(to_dict(cfg)))) == cfg


def test_flat_keys_are_unique_across_nesting() -> None:
    # The CLI and TOML use flat names, so no key may appear in two nested configs.
    for cls in (PretrainConfig, FinetuneConfig):
        names = [f.name for f in fields(cls) if f.name not in ("model", "loop", "reader")]
        names += [f.name for f in fields(LoopConfig)] + [f.name for f in fields(cls().model)]
        names += [f.name for f in fields(cls().reader)]
        assert len(names) == len(set(names)) == len(flat_fields(cls))


# ---- ImageNormalizer ----


def gray_images(n: int = 20, size: tuple[int, int] = (8, 6), seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 1, *size), dtype=np.uint8)


def test_fit_learns_statistics_and_transform_standardises() -> None:
    images = np.concatenate([gray_images(), gray_images(seed=1) // 4])
    norm = ImageNormalizer().fit(images)
    assert norm.fit(images) is norm  # fit returns self
    pixels = images.astype(np.float64) / 255
    assert norm.mean_[0] == pytest.approx(pixels.mean(), rel=1e-5)
    assert norm.std_[0] == pytest.approx(pixels.std(ddof=1), rel=1e-4)
    x = norm.transform(images)
    assert x.dtype == torch.float32 and x.shape == (40, 1, 8, 6)
    assert x.mean().item() == pytest.approx(0.0, abs=1e-5) and x.std().item() == pytest.approx(1.0, rel=1e-4)
    assert norm.input_shape == (1, 8, 6)


def test_state_round_trip_through_json_gives_the_identical_transform() -> None:
    rgb = np.random.default_rng(2).integers(0, 256, (10, 3, 8, 8), dtype=np.uint8)
    norm = ImageNormalizer().fit(rgb)
    state = json.loads(json.dumps(norm.state_dict()))  # plain JSON
    assert state["kind"] == "image" and len(state["mean"]) == 3
    again = preprocessor_from_state(state)
    assert isinstance(again, ImageNormalizer) and again.input_shape == norm.input_shape
    fresh = np.random.default_rng(3).integers(0, 256, (4, 3, 8, 8), dtype=np.uint8)
    assert torch.equal(again.transform(fresh), norm.transform(fresh))
    assert again.state_dict() == state


def test_gray_to_rgb_and_rgb_to_gray() -> None:
    rgb = np.random.default_rng(4).integers(0, 256, (6, 3, 8, 8), dtype=np.uint8)
    to_rgb = ImageNormalizer().fit(rgb)
    gray = gray_images(3, (8, 8))
    x = to_rgb.transform(gray)
    assert x.shape == (3, 3, 8, 8)
    for c in range(3):  # the gray plane repeated, each channel normalised with its own statistics
        expected = (torch.from_numpy(gray[:, 0]).float() / 255 - to_rgb.mean_[c]) / to_rgb.std_[c]
        torch.testing.assert_close(x[:, c], expected)
    to_gray = ImageNormalizer().fit(gray_images(size=(8, 8)))
    y = to_gray.transform(rgb)
    assert y.shape == (6, 1, 8, 8)
    luma = np.rint((rgb.astype(np.float32) * np.array([0.299, 0.587, 0.114]).reshape(1, 3, 1, 1)).sum(1))
    expected = (torch.from_numpy(luma).float() / 255 - to_gray.mean_[0]) / to_gray.std_[0]
    torch.testing.assert_close(y[:, 0], expected, atol=1e-5, rtol=1e-5)


def test_two_channels_cannot_be_converted() -> None:
    norm = ImageNormalizer().fit(gray_images())
    with pytest.raises(DataError, match="2 channels"):
        norm.transform(np.zeros((1, 2, 8, 6), dtype=np.uint8))


def test_resizing_to_the_fitted_size() -> None:
    norm = ImageNormalizer(size=(4, 4)).fit(gray_images(size=(8, 8)))
    assert norm.input_shape == (1, 4, 4)
    flat = np.full((2, 1, 12, 16), 77, dtype=np.uint8)  # a constant image stays constant when resized
    x = norm.transform(flat)
    assert x.shape == (2, 1, 4, 4)
    torch.testing.assert_close(x, torch.full_like(x, (77 / 255 - norm.mean_[0]) / norm.std_[0]))
    # (N, H, W) input is read as one channel
    assert norm.transform(flat[:, 0]).shape == (2, 1, 4, 4)
    # the target size is part of the state
    assert ImageNormalizer.from_state(json.loads(json.dumps(norm.state_dict()))).transform(flat).shape == x.shape


def test_unfitted_use_raises() -> None:
    norm = ImageNormalizer()
    for use in (lambda: norm.transform(gray_images()), norm.state_dict, lambda: norm.input_shape):
        with pytest.raises(RuntimeError, match="not fitted"):
            use()


@pytest.mark.parametrize(
    "state",
    [{"kind": "image"}, {"kind": "image", "size": [8], "channels": 1, "mean": [0.5], "std": [0.2]}],
)
def test_malformed_state_is_a_data_error(state: dict[str, object]) -> None:
    with pytest.raises(DataError, match="malformed"):
        ImageNormalizer.from_state(state)


def test_unknown_preprocessor_kind() -> None:
    with pytest.raises(BundleError, match="unknown preprocessor kind 'audio'.*image, table, text"):
        preprocessor_from_state({"kind": "audio"})


def test_fit_refuses_wrong_shapes() -> None:
    with pytest.raises(DataError, match="shape"):
        ImageNormalizer().fit(np.zeros((4, 8, 8), dtype=np.uint8))
    with pytest.raises(DataError):
        ImageNormalizer().fit(np.zeros((0, 1, 8, 8), dtype=np.uint8))


def test_in_memory_data_as_a_config_value_is_refused_with_the_right_call() -> None:
    from ptft.data.types import TextSet

    with pytest.raises(ConfigError, match=r"option 'data': expected a string, got TextSet; pass in-memory data to fit"):
        build(PretrainConfig, {"data": TextSet(["a text"])})
    assert build(PretrainConfig, {"data": Path("corpus.txt")}).data == "corpus.txt"

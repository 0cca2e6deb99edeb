"""Guards against losing work or tracebacks on plausible mistakes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import ptft
from ptft.api import FineTuner, Pretrainer, RunInterrupted
from ptft.config import LoopConfig, PretrainConfig
from ptft.data.types import ImageSet
from ptft.errors import BundleError, ConfigError, DataError
from ptft.models import build_encoder
from ptft.train.checkpoint import latest_checkpoint


def test_overwrite_never_deletes_a_folder_that_is_not_a_run(
    tmp_path: Path, labelled_images: ImageSet, tiny: dict[str, Any]
) -> None:
    precious = tmp_path / "my-data"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(BundleError, match="not a ptft run folder"):
        Pretrainer(out=str(precious), overwrite=True, steps=1, encoder="mlp", **tiny).fit(labelled_images)
    assert (precious / "notes.txt").read_text() == "keep me"


def test_finetune_into_its_own_pretrained_bundle_is_refused_and_the_bundle_survives(
    tmp_path: Path, labelled_images: ImageSet, tiny: dict[str, Any]
) -> None:
    pre = tmp_path / "pre"
    Pretrainer(out=str(pre), steps=2, encoder="mlp", **tiny).fit(labelled_images)
    with pytest.raises(ConfigError, match="pre-trained bundle itself"):
        FineTuner(out=str(pre), pretrained=str(pre), overwrite=True, labels_per_class=4, steps=1, **tiny).fit(
            labelled_images
        )
    assert ptft.load(pre).meta["kind"] == "pretrain"


def test_a_bad_label_budget_fails_before_an_earlier_run_is_replaced(
    tmp_path: Path, labelled_images: ImageSet, tiny: dict[str, Any]
) -> None:
    earlier = tmp_path / "earlier"
    Pretrainer(out=str(earlier), steps=2, encoder="mlp", **tiny).fit(labelled_images)
    missing = tmp_path / "missing-test.npz"
    with pytest.raises(DataError, match="missing-test.npz does not exist"):
        FineTuner(out=str(earlier), overwrite=True, test=str(missing), steps=1, encoder="mlp", **tiny).fit(
            labelled_images
        )
    assert ptft.load(earlier).meta["kind"] == "pretrain"  # --overwrite only acts once the inputs are valid


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"batch_size": -1}, "batch_size"),
        ({"accumulate": 0}, "accumulate"),
        ({"log_every": 0}, "log_every"),
        ({"lr": -1.0}, "lr"),
        ({"warmup": 1.5}, "warmup"),
        ({"mask_ratio": 1.0}, "mask_ratio"),
        ({"temperature": 0.0}, "temperature"),
    ],
)
def test_impossible_options_are_config_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Pretrainer(**options)
    assert LoopConfig() and PretrainConfig()  # the defaults themselves are valid


@pytest.mark.parametrize(
    ("spec", "message"),
    [({"name": "vit", "dim": 18, "heads": 4}, "divisible by heads"), ({"name": "vit", "patch_size": 5}, "patch")],
)
def test_model_specs_that_cannot_work_are_config_errors(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_encoder({"input_shape": [1, 16, 16], **spec})


def test_resume_survives_a_log_line_cut_off_by_a_kill(
    tmp_path: Path, labelled_images: ImageSet, tiny: dict[str, Any]
) -> None:
    out = tmp_path / "run"
    options = {"out": str(out), "steps": 6, "log_every": 1, "encoder": "mlp", **tiny}
    with pytest.raises(RunInterrupted):
        Pretrainer(**options).fit(labelled_images, stop_at=3)
    checkpoint = latest_checkpoint(out)
    assert checkpoint is not None
    from safetensors.torch import load_file

    assert "torch.0" in load_file(str(checkpoint / "rng.safetensors"))  # per-rank random state
    with open(out / "logs" / "metrics.jsonl", "a") as fh:
        fh.write('{"step": 4, "lo')
    Pretrainer(**options, resume=True).fit(labelled_images)
    assert ptft.load(out).meta["metrics"]["steps"] == 6

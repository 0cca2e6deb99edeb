"""`ptft pretrain --from RUN|hf:PATH`: pre-training continues from an existing encoder on the user's pool
(domain- and task-adaptive pre-training), keeping its preprocessing and shape, loading its weights, and
recording where it started; options that would change the shape are refused, as is a start of another
modality."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

import ptft
from ptft import cli
from ptft.api import FineTuner, Pretrainer
from ptft.errors import BundleError, ConfigError
from ptft.train.checkpoint import read_bundle
from ptft.train.start import from_hf
from tests.conftest import synthetic_images, synthetic_texts, write_tiny_bert

TINY: dict[str, Any] = {"batch_size": 16, "progress": False, "precision": "fp32"}


def encoder_weights(run: Path) -> dict[str, torch.Tensor]:
    return {k: v for k, v in read_bundle(run)[1].items() if k.startswith("encoder.")}


def test_continuing_a_ptft_bundle_starts_from_its_weights_and_keeps_its_tokenizer(tmp_path: Path) -> None:
    texts = synthetic_texts(96, seed=0)
    first = Pretrainer(out=str(tmp_path / "first"), objective="mlm", dim=16, depth=2, heads=2, vocab_size=120,
                       max_length=24, steps=3, **TINY).fit(texts).run_dir  # fmt: skip
    pool = synthetic_texts(96, seed=5)  # another pool: the tokenizer is still the first one's
    # a learning rate too small to move a weight: what was saved is what was loaded
    still = Pretrainer(out=str(tmp_path / "still"), objective="mlm", pretrained=str(first), steps=2, lr=1e-12,
                       warmup=0.0, **TINY).fit(pool).run_dir  # fmt: skip
    before, after = encoder_weights(first), encoder_weights(still)
    assert before.keys() == after.keys()
    assert all(torch.allclose(before[k], after[k], atol=1e-7) for k in before)
    start, continued = json.loads((first / "ptft.json").read_text()), json.loads((still / "ptft.json").read_text())
    assert continued["preprocessor"] == start["preprocessor"] and continued["encoder"] == start["encoder"]
    assert continued["pretrained_from"]["path"] == str(first) and continued["pretrained_from"]["kind"] == "pretrain"
    moved = Pretrainer(out=str(tmp_path / "moved"), objective="mlm", pretrained=str(first), steps=3, lr=1e-2,
                       **TINY).fit(pool).run_dir  # fmt: skip
    assert any(not torch.allclose(before[k], v) for k, v in encoder_weights(moved).items())
    # fine-tuning from the continued bundle records the whole chain
    tuned = FineTuner(pretrained=str(moved), out=str(tmp_path / "ft"), labels_per_class=4, steps=2, **TINY)
    tuned.fit(synthetic_texts(80, seed=1))
    meta = json.loads((tmp_path / "ft" / "ptft.json").read_text())
    assert meta["pretrained_from"]["path"] == str(moved)
    assert meta["pretrained_from"]["pretrained_from"]["path"] == str(first)
    assert not from_hf(str(moved)) and not from_hf(str(tmp_path / "ft"))  # compare fine-tunes it at --lr


def test_continuing_a_hugging_face_folder_keeps_its_tokenizer_and_does_not_clean(tmp_path: Path) -> None:
    folder = tmp_path / "tiny-bert"
    write_tiny_bert(folder)
    texts = ["Caf\u00e9   au lait, tr\u00e8s bien", *synthetic_texts(63, seed=2).texts]
    argv = ["pretrain", "--data", str(tmp_path / "pool.txt"), "--from", f"hf:{folder}", "--objective", "mlm",
            "--out", str(tmp_path / "tapt"), "--steps", "2", "--batch-size", "16", "--no-progress",
            "--precision", "fp32"]  # fmt: skip
    (tmp_path / "pool.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    assert cli.main(argv) == 0
    meta = json.loads((tmp_path / "tapt" / "ptft.json").read_text())
    assert meta["encoder"]["name"] == "bert" and meta["pretrained_from"]["kind"] == "huggingface"
    assert meta["preprocessor"]["clean_steps"] == []  # the imported tokenizer normalises; nothing else does
    assert from_hf(str(tmp_path / "tapt")) and from_hf(f"hf:{folder}")  # compare fine-tunes both at --hf-lr
    tuned = tmp_path / "ft"
    data = synthetic_texts(80, seed=1)
    FineTuner(pretrained=str(tmp_path / "tapt"), out=str(tuned), labels_per_class=4, steps=2, **TINY).fit(data)
    assert ptft.load(tuned).predict_proba(data.texts[:3]).shape == (3, len(data.label_names))


def test_options_that_would_change_the_start_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    images = Pretrainer(out=str(tmp_path / "img"), encoder="cnn", dim=16, depth=2, steps=2, **TINY)
    run = images.fit(synthetic_images(64, seed=0)).run_dir
    with pytest.raises(ConfigError, match="--dim, --depth: pre-training continues from"):
        Pretrainer(out=str(tmp_path / "x"), pretrained=str(run), dim=32, depth=3)
    with pytest.raises(BundleError, match="holds text; start from an encoder pre-trained on text"):
        Pretrainer(out=str(tmp_path / "y"), pretrained=str(run), steps=1, **TINY).fit(synthetic_texts(32))
    assert not (tmp_path / "y").exists()
    again = Pretrainer(out=str(tmp_path / "again"), pretrained=str(run), steps=2, **TINY)
    assert again.fit(synthetic_images(64, seed=3)).run_dir.is_dir()  # an image bundle continues on images
    code = cli.main(["pretrain", "--from", str(run), "--vocab-size", "500", "--out", str(tmp_path / "z")])
    assert code == 2 and "--vocab-size: pre-training continues from" in capsys.readouterr().err

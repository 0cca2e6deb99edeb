"""The sentence-level contrastive objective (`--objective simcse`): token cutoff masks real tokens only, two
views of a text differ, the loss is SimCLR's InfoNCE over the two pooled views, and it pre-trains a text
encoder end to end (and refuses an image encoder)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from ptft import cli
from ptft.errors import ConfigError
from ptft.models import build_encoder
from ptft.objectives import build_objective
from ptft.objectives.simclr import info_nce
from ptft.objectives.simcse import token_cutoff
from tests.conftest import synthetic_texts

SPEC = {"name": "transformer", "vocab_size": 50, "max_length": 12, "dim": 16, "depth": 1, "heads": 2,
        "dropout": 0.0, "pad_id": 0}  # fmt: skip


def test_token_cutoff_masks_real_tokens_only_at_about_its_ratio() -> None:
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 50, (64, 40))
    maskable = torch.rand(64, 40, generator=generator) < 0.7
    out = token_cutoff(ids, maskable, 4, 0.25, generator)
    changed = out != ids
    assert not (changed & ~maskable).any() and (out[changed] == 4).all()
    assert 0.2 < changed.sum() / maskable.sum() < 0.3
    assert torch.equal(token_cutoff(ids, maskable, 4, 0.0), ids)


def test_the_loss_is_info_nce_over_two_noisy_views_of_each_text() -> None:
    torch.manual_seed(0)
    encoder = build_encoder(SPEC)
    ids = torch.randint(5, 50, (8, 12))
    ids[:, 8:] = 0  # padding
    objective = build_objective("simcse", encoder, {"mask_ratio": 0.0}, mask_id=4, special_ids=[0, 1, 2, 3, 4])
    loss = objective(ids)
    pad = ids == 0
    pooled = objective.embed(ids[:, :8], pad[:, :8])
    assert torch.allclose(loss, info_nce(pooled, pooled, 0.05), atol=1e-5)  # no noise: two identical views
    noisy = build_objective("simcse", encoder, {"mask_ratio": 0.3}, mask_id=4, special_ids=[0, 1, 2, 3, 4])
    torch.manual_seed(1)
    assert not torch.allclose(noisy.embed(ids[:, :8], pad[:, :8]), noisy.embed(ids[:, :8], pad[:, :8]))
    loss.backward()
    assert encoder.token_embedding.weight.grad is not None
    with pytest.raises(ConfigError, match="objective 'simcse': temperature must be positive"):
        build_objective("simcse", encoder, {"temperature": 0.0}, mask_id=4, special_ids=[0])


def test_simcse_pre_trains_a_text_encoder_and_refuses_an_image_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = tmp_path / "pool.txt"
    corpus.write_text("\n".join(synthetic_texts(64, seed=0).texts) + "\n")
    argv = ["pretrain", "--data", str(corpus), "--objective", "simcse", "--dim", "16", "--depth", "1", "--heads", "2",
            "--vocab-size", "120", "--steps", "3", "--batch-size", "16", "--no-progress",
            "--precision", "fp32"]  # fmt: skip
    assert cli.main([*argv, "--out", str(tmp_path / "run"), "--temperature", "0.1"]) == 0
    meta = json.loads((tmp_path / "run" / "ptft.json").read_text())
    assert meta["objective"] == "simcse" and meta["objective_options"] == {"temperature": 0.1, "mask_ratio": 0.1}
    images = ["pretrain", "--data", "digits", "--objective", "simcse", "--steps", "1", "--out", str(tmp_path / "x")]
    assert cli.main(images) == 2
    assert "objective 'simcse' trains text encoders" in capsys.readouterr().err

"""Replaced-token detection (`--objective electra`): the pure loss against a naive loop, the generator's
samples replace masked tokens only, both losses train, and the bundle keeps the discriminator alone."""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from ptft import cli
from ptft.models import build_encoder
from ptft.objectives import build_objective
from ptft.objectives.electra import replaced_token_loss
from ptft.train.checkpoint import read_bundle
from tests.conftest import synthetic_texts

SPEC = {"name": "transformer", "vocab_size": 60, "max_length": 16, "dim": 32, "depth": 1, "heads": 2,
        "dropout": 0.0, "pad_id": 0}  # fmt: skip


def test_replaced_token_loss_matches_a_naive_mean_over_real_tokens() -> None:
    torch.manual_seed(0)
    logits, replaced = torch.randn(3, 5), torch.rand(3, 5) < 0.3
    real = torch.ones(3, 5, dtype=torch.bool)
    real[1, 3:] = False
    terms = []
    for i in range(3):
        for j in range(5):
            if real[i, j]:
                p = 1 / (1 + math.exp(-float(logits[i, j])))
                terms.append(-math.log(p) if replaced[i, j] else -math.log(1 - p))
    assert math.isclose(float(replaced_token_loss(logits, replaced, real)), sum(terms) / len(terms), rel_tol=1e-5)


def test_the_generator_replaces_masked_tokens_and_both_parts_learn() -> None:
    torch.manual_seed(0)
    encoder = build_encoder(SPEC)
    objective = build_objective("electra", encoder, {}, mask_id=4, special_ids=[0, 1, 2, 3, 4], pad_id=0,
                                max_length=16)  # fmt: skip
    ids = torch.randint(5, 60, (8, 12))
    ids[:, 10:] = 0
    calls: list[torch.Tensor] = []
    real_forward = encoder.forward
    encoder.forward = lambda x, pad_mask=None: calls.append(x) or real_forward(x, pad_mask)  # type: ignore[method-assign]
    loss = objective(ids)
    corrupted = calls[0]
    width = corrupted.shape[1]
    assert torch.equal(corrupted == 0, ids[:, :width] == 0)  # padding untouched, nothing replaced by padding
    changed = corrupted != ids[:, :width]
    assert changed.any() and changed.float().mean() < 0.4  # some (about 15 % or fewer) tokens replaced
    loss.backward()
    assert encoder.token_embedding.weight.grad is not None  # the discriminator learns
    assert objective.generator.token_embedding.weight.grad is not None  # and so does the generator


def test_electra_pre_trains_and_the_bundle_holds_the_discriminator_only(tmp_path: Path) -> None:
    corpus = tmp_path / "pool.txt"
    corpus.write_text("\n".join(synthetic_texts(64, seed=0).texts) + "\n")
    argv = ["pretrain", "--data", str(corpus), "--objective", "electra", "--dim", "32", "--depth", "1", "--heads", "2",
            "--vocab-size", "120", "--steps", "3", "--batch-size", "16", "--no-progress", "--precision", "fp32",
            "--out", str(tmp_path / "run")]  # fmt: skip
    assert cli.main(argv) == 0
    meta = json.loads((tmp_path / "run" / "ptft.json").read_text())
    assert meta["objective"] == "electra" and meta["objective_options"] == {"mask_ratio": 0.15}
    _, tensors = read_bundle(tmp_path / "run")
    assert tensors and all(k.startswith("encoder.") for k in tensors)
    assert not any("generator" in k or "detector" in k for k in tensors)

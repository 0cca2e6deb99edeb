"""FixMatch-style pool consistency: the pure loss against a naive loop, and one real training step."""

from __future__ import annotations

import math

import torch

from ptft.models import ClassificationHead, Classifier, build_encoder
from ptft.objectives.augment import light_view, strong_view
from ptft.objectives.consistency import PoolConsistency, confident_consistency

VIEWS = (light_view, strong_view)


def naive_consistency(weak: torch.Tensor, strong: torch.Tensor, threshold: float) -> float:
    total = 0.0
    for w, s in zip(weak.tolist(), strong.tolist()):
        exp_w = [math.exp(v) for v in w]
        probs = [v / sum(exp_w) for v in exp_w]
        target = max(range(len(probs)), key=probs.__getitem__)
        if probs[target] >= threshold:
            log_norm = math.log(sum(math.exp(v) for v in s))
            total += log_norm - s[target]
    return total / len(weak)


def test_confident_consistency_matches_a_naive_loop() -> None:
    gen = torch.Generator().manual_seed(0)
    weak = torch.randn(12, 5, generator=gen) * 3
    strong = torch.randn(12, 5, generator=gen)
    for threshold in (0.0, 0.6, 0.9, 1.01):
        loss, kept = confident_consistency(weak, strong, threshold)
        assert math.isclose(loss.item(), naive_consistency(weak, strong, threshold), rel_tol=1e-5, abs_tol=1e-7)
        confidence = torch.softmax(weak, 1).max(1).values
        assert kept.item() == (confidence >= threshold).float().mean().item()
    assert confident_consistency(weak, strong, 1.01)[0].item() == 0.0  # nothing confident: no signal


def test_pool_consistency_step_has_finite_loss_and_uses_the_pool() -> None:
    torch.manual_seed(0)
    encoder = build_encoder({"name": "cnn", "input_shape": [1, 16, 16], "dim": 16, "depth": 2})
    model = Classifier(encoder, ClassificationHead(16, 3))
    pool = torch.randn(40, 1, 16, 16)
    objective = PoolConsistency(model, pool, VIEWS, ratio=2, threshold=0.0)  # threshold 0: every pool image counts
    x, y = torch.randn(6, 1, 16, 16), torch.tensor([0, 1, 2, 0, 1, 2])
    loss = objective(x, y)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in encoder.parameters())
    supervised_only = PoolConsistency(model, pool, VIEWS, ratio=2, threshold=2.0)  # nothing passes the threshold
    torch.manual_seed(1)
    a = supervised_only(x, y)
    torch.manual_seed(1)
    b = super(PoolConsistency, supervised_only).forward(x, y)
    assert torch.allclose(a, b)  # same augmentation draw, zero consistency term
    assert not torch.allclose(loss, a)

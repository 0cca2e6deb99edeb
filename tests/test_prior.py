"""--prior pool: the EM estimate of the pool's class shares, the head's bias shift, and their wiring."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from ptft.api import FineTuner
from ptft.config import CompareConfig, FinetuneConfig
from ptft.errors import ConfigError, PtftError
from ptft.finetune.model import load
from ptft.finetune.prior import em_prior, estimate_pool, logit_shift, shift_head, unshifted
from ptft.models import ClassificationHead
from tests.conftest import synthetic_images


def naive_em(proba: np.ndarray, trained: np.ndarray, rounds: int) -> np.ndarray:
    """Saerens et al. 2002, eqs. 2.9-2.10, example by example, with K examples added as `trained` (MAP)."""
    prior = trained.copy()
    for _ in range(rounds):
        adjusted = []
        for p in proba:
            w = [p[k] * prior[k] / trained[k] for k in range(len(p))]
            adjusted.append([v / sum(w) for v in w])
        prior = (np.array(adjusted).sum(0) + len(trained) * trained) / (len(proba) + len(trained))
    return prior


def test_em_matches_a_naive_reference() -> None:
    generator = torch.Generator().manual_seed(0)
    proba = torch.softmax(2 * torch.randn(50, 4, generator=generator), 1)
    trained = torch.tensor([0.1, 0.2, 0.3, 0.4])
    estimate, iterations = em_prior(proba, trained)
    assert 1 < iterations < 1000
    reference = naive_em(proba.double().numpy(), trained.double().numpy(), iterations)
    np.testing.assert_allclose(estimate.numpy(), reference, atol=1e-5)
    assert estimate.sum().item() == pytest.approx(1.0, abs=1e-5)


def test_em_recovers_the_prior_of_calibrated_posteriors() -> None:
    """Two overlapping 1-d Gaussians; the posteriors are exact under a uniform prior; the examples are drawn
    80 / 20: EM finds 80 / 20, which the mean posterior alone does not."""
    rng = np.random.default_rng(0)
    labels = rng.random(20_000) < 0.2
    x = rng.normal(np.where(labels, 1.0, -1.0), 1.0)
    like = np.stack([np.exp(-((x + 1) ** 2) / 2), np.exp(-((x - 1) ** 2) / 2)], 1)
    proba = torch.as_tensor(like / like.sum(1, keepdims=True), dtype=torch.float32)
    estimate, _ = em_prior(proba, torch.tensor([0.5, 0.5]))
    assert estimate[1].item() == pytest.approx(0.2, abs=0.01)
    assert proba.mean(0)[1].item() > 0.25  # the plain mean is pulled toward the trained prior


def test_the_shift_turns_posteriors_into_those_under_the_new_prior() -> None:
    trained, target = torch.tensor([0.25, 0.25, 0.5]), torch.tensor([0.6, 0.3, 0.1])
    head = ClassificationHead(5, 3)
    features = torch.randn(7, 2, 5)
    before = torch.softmax(head(features), 1)
    shift_head(head, logit_shift(trained, target))
    expected = before * target / trained
    torch.testing.assert_close(torch.softmax(head(features), 1), expected / expected.sum(1, keepdim=True))
    logistic = ClassificationHead(5, 2, plain=True)
    before = torch.softmax(logistic(features), 1)
    shift_head(logistic, logit_shift(torch.tensor([0.5, 0.5]), torch.tensor([0.9, 0.1])))
    expected = before * torch.tensor([1.8, 0.2])
    torch.testing.assert_close(torch.softmax(logistic(features), 1), expected / expected.sum(1, keepdim=True))


def test_unshifted_gives_back_the_head_before_the_move_for_its_block_only() -> None:
    head = ClassificationHead(5, 3)
    features = torch.randn(7, 2, 5)
    before = head(features)
    record = {"trained": [0.25, 0.25, 0.5], "pool": [0.6, 0.3, 0.1]}
    shift_head(head, logit_shift(torch.tensor(record["trained"]), torch.tensor(record["pool"])))
    moved = head.fc.bias.detach().clone()
    assert not torch.allclose(head(features), before)
    with unshifted(head, record):
        torch.testing.assert_close(head(features), before)
    assert torch.equal(head.fc.bias, moved)  # exactly the moved bias again, not a float round trip of it
    with pytest.raises(RuntimeError), unshifted(head, record):
        raise RuntimeError("scoring failed")
    assert torch.equal(head.fc.bias, moved)


def test_no_class_is_estimated_away() -> None:
    """A model sure that nothing is class 1 still leaves it one example's share: a finite logit."""
    estimate, _ = em_prior(torch.tensor([[1.0, 0.0]] * 99), torch.tensor([0.5, 0.5]))
    assert estimate[1].item() == pytest.approx(1 / 101)
    shift = logit_shift(torch.tensor([0.5, 0.5]), torch.tensor([1.0, 0.0]))
    assert torch.isfinite(shift).all() and shift[1] < -50


def test_prior_pool_moves_only_the_head_bias_and_the_bundle_keeps_it(tmp_path: Any, tiny: dict[str, Any]) -> None:
    data = synthetic_images(96)
    keep = np.concatenate([np.flatnonzero(data.labels == 0), np.flatnonzero(data.labels != 0)[:30]])
    data = data.subset(np.sort(keep))  # 24 of class 0, 10 of each other: the pool leans to class 0
    options = {**tiny, "encoder": "cnn", "depth": 3, "steps": 6, "eval_every": 3, "lr": 3e-3, "augment": False,
               "labels_per_class": 3, "val_per_class": 1}  # fmt: skip
    plain = FineTuner(out=str(tmp_path / "labels"), **options).fit(data)
    shifted = FineTuner(out=str(tmp_path / "pool"), prior="pool", **options).fit(data)
    prior = shifted.metrics_["prior"]  # "trained": the model's mean posterior on its 12 training images
    assert prior["pool_examples"] == len(data) - 16 and "prior" not in plain.metrics_
    assert sum(prior["pool"]) == pytest.approx(1.0, abs=1e-4) and sum(prior["trained"]) == pytest.approx(1.0, abs=1e-4)
    a, b = load(tmp_path / "labels"), load(tmp_path / "pool")
    state_a, state_b = a.module.state_dict(), b.module.state_dict()
    moved = [k for k in state_a if not torch.equal(state_a[k], state_b[k])]
    assert moved == ["head.fc.bias"]
    expected = logit_shift(torch.tensor(prior["trained"]), torch.tensor(prior["pool"]))
    torch.testing.assert_close(state_b["head.fc.bias"] - state_a["head.fc.bias"], expected, atol=1e-4, rtol=0)


def test_prior_pool_needs_a_pool_and_classes(tmp_path: Any, tiny: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="labels or pool"):
        FinetuneConfig(prior="test")
    with pytest.raises(ConfigError, match="regression has no classes"):
        CompareConfig(task="regression", prior="pool")
    options = {**tiny, "encoder": "cnn", "depth": 3, "steps": 2, "augment": False}
    with pytest.raises(PtftError, match="leaves none"):  # 8 a class, all labelled: no pool is left
        FineTuner(out=str(tmp_path / "x"), prior="pool", labels_per_class=6, val_per_class=2,
                  **options).fit(synthetic_images(32))  # fmt: skip
    assert not (tmp_path / "x").exists()



def test_a_pool_like_the_training_inputs_leaves_the_model_as_it_is() -> None:
    """The balance the model trained under is read from its own posteriors on its training inputs: a model
    that says 60/30/10 to everything, on a pool that looks the same to it, is not moved (label shares of, say,
    a third each would have moved it)."""
    from ptft.data.batch import Batch
    from ptft.finetune.prior import adapt_to_pool
    from ptft.models import Classifier, build_encoder

    model = Classifier(build_encoder({"name": "cnn", "input_shape": [1, 16, 16], "dim": 16, "depth": 3}),
                       ClassificationHead(16, 3))  # fmt: skip
    with torch.no_grad():
        model.head.fc.weight.zero_()
        model.head.fc.bias.copy_(torch.tensor([0.6, 0.3, 0.1]).log())
    images = torch.from_numpy(synthetic_images(40).images).float() / 255
    found = adapt_to_pool(model, Batch.of(images[:20]), Batch.of(images[20:]), seed=0)
    torch.testing.assert_close(torch.tensor(found["trained"]), torch.tensor([0.6, 0.3, 0.1]))
    torch.testing.assert_close(model.head.fc.bias.exp(), torch.tensor([0.6, 0.3, 0.1]), atol=2e-3, rtol=0)


def test_a_self_trained_student_is_moved_to_its_teachers_estimate(
    tmp_path: Any, tiny: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The student's own posteriors are not the ones EM can trust (finetune/prior.py): the pool's shares are its
    teacher's estimate, made once, before the student trains, and the student moves to them from the balance it
    has on its own training inputs."""
    from ptft.finetune import run as run_module

    estimates: list[dict[str, Any]] = []

    def recorded(*args: Any) -> dict[str, Any]:
        estimates.append(estimate_pool(*args))
        return estimates[-1]

    monkeypatch.setattr(run_module, "estimate_pool", recorded)
    options = {**tiny, "encoder": "cnn", "depth": 3, "steps": 6, "lr": 3e-3, "augment": False, "labels_per_class": 4,
               "folds": 2, "fold": -1, "strategy": "self-train", "pseudo_threshold": 0.0}  # no validation: the student
    student = FineTuner(out=str(tmp_path / "student"), prior="pool", **options).fit(synthetic_images(96))
    prior = student.metrics_["prior"]
    assert student.metrics_["kept"] == "student" and prior["estimated_by"] == "teacher"  # is kept
    (teacher,) = estimates
    assert prior["pool"] == teacher["pool"] and prior["teacher_trained"] == teacher["trained"]
    assert prior["trained"] != teacher["trained"]  # the student's own balance, which it moves from
    plain = FineTuner(out=str(tmp_path / "plain"), **options).fit(synthetic_images(96))  # the same run, not moved
    bias = [load(tmp_path / name).module.state_dict()["head.fc.bias"] for name in ("student", "plain")]
    expected = logit_shift(torch.tensor(prior["trained"]), torch.tensor(prior["pool"]))
    torch.testing.assert_close(bias[0] - bias[1], expected, atol=1e-4, rtol=0)
    assert plain.metrics_["steps"] == student.metrics_["steps"]

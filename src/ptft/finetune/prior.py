"""Label shift: a model trained on K labels per class has learnt that every class is equally common, which the
data it will meet need not be (WordNet's noun glosses: from 0.1 % to 14 % a class). `--prior pool` estimates
the classes' shares in the unlabeled pool by expectation-maximisation over the model's own posteriors and
moves the head's bias by the log-ratio of the two priors, so its outputs are the posteriors under the pool's
balance (Saerens, Latinne & Decaestecker 2002, "Adjusting the Outputs of a Classifier to New a Priori
Probabilities: A Simple Procedure", Neural Computation 14(1)). Nothing else of the model changes.

The estimate is only as good as the posteriors are calibrated: on classes that are balanced, an
over-confident model's confusions pull it away from uniform, and the shift costs accuracy (README).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from ptft.data.batch import Batch
from ptft.finetune.predict import predict_proba
from ptft.models.heads import ClassificationHead, Classifier

MAX_ITER = 1000
TOLERANCE = 1e-6  # stop when no class's share moves by more than this
SAMPLE = 10_000  # pool examples the estimate is made on: a prior has K numbers, these are plenty


def em_prior(proba: torch.Tensor, trained: torch.Tensor) -> tuple[torch.Tensor, int]:
    """-> (the class prior of the examples behind `proba`, iterations). `proba` (N, K): a model's posteriors
    under the prior `trained` (K, the class shares it was trained on). Each step re-weights every posterior
    by (estimate / trained), renormalises, and takes their sum plus K examples shared out as `trained`, over
    N + K, as the next estimate: the maximum a posteriori estimate under a Dirichlet prior centred on the
    trained shares, so that no class's share falls to zero (and its logit to minus infinity) on the strength
    of a confident model alone, and a small pool moves the model little."""
    proba, trained = proba.double(), trained.double()
    estimate = trained.clone()
    n, k = proba.shape
    for step in range(1, MAX_ITER + 1):
        weighted = proba * (estimate / trained)
        new = ((weighted / weighted.sum(1, keepdim=True).clamp_min(1e-300)).sum(0) + k * trained) / (n + k)
        moved = (new - estimate).abs().max().item()
        estimate = new
        if moved < TOLERANCE:
            return estimate.float(), step
    return estimate.float(), MAX_ITER


def logit_shift(trained: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """What to add to each class's logit so that softmax gives the posteriors under `target` rather than
    `trained`: log(target / trained), floored so that a class the estimate empties keeps a finite logit."""
    floor = torch.finfo(torch.float32).tiny
    return target.clamp_min(floor).log() - trained.clamp_min(floor).log()


def shift_head(head: ClassificationHead, shift: torch.Tensor) -> None:
    """Add `shift` (K) to the head's logits, in its bias; a logistic head (one output z, logits (0, z)) takes
    the difference of the two."""
    bias = head.fc.bias
    with torch.no_grad():
        bias.add_((shift[1:] - shift[:1]) if head.logistic else shift)


@contextmanager
def unshifted(head: ClassificationHead, record: dict[str, Any]) -> Iterator[None]:
    """Inside the block, `head` is as it was before `adapt_to_pool` moved it (`record`: what that returned);
    after it, its bias is again exactly the moved one. So a study can score the same model both ways."""
    bias = head.fc.bias.detach().clone()
    shift_head(head, -logit_shift(torch.tensor(record["trained"]), torch.tensor(record["pool"])))
    try:
        yield
    finally:
        with torch.no_grad():
            head.fc.bias.copy_(bias)


def sample(x: Batch, seed: int) -> Batch:
    """At most SAMPLE examples of `x`, a seeded draw, in their order."""
    if len(x) <= SAMPLE:
        return x
    generator = torch.Generator().manual_seed(seed)
    return x.rows(torch.randperm(len(x), generator=generator)[:SAMPLE].sort().values)


def trained_shares(model: Classifier, trained_on: Batch, seed: int) -> torch.Tensor:
    """The class balance `model` trained under, read from its own mean posterior on (a seeded sample of) its
    training inputs, not from their labels: EM needs the prior the posteriors are calibrated to, and a model
    that has not fitted its training set is not at their label shares."""
    return predict_proba(model, sample(trained_on, seed)).double().mean(0).float()


def estimate_pool(model: Classifier, trained_on: Batch, pool: Batch, seed: int) -> dict[str, Any]:
    """The pool's class shares by EM over `model`'s posteriors on (a seeded sample of) `pool`, from the balance
    it trained under on `trained_on` -> {"trained", "pool", "pool_examples", "iterations"}."""
    trained = trained_shares(model, trained_on, seed)
    pool = sample(pool, seed)
    estimate, iterations = em_prior(predict_proba(model, pool), trained)
    return {"trained": trained.tolist(), "pool": estimate.tolist(), "pool_examples": len(pool),
            "iterations": iterations}  # fmt: skip


def adapt_to_pool(
    model: Classifier, trained_on: Batch, pool: Batch, seed: int, estimated: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Move `model`'s head from the balance it has on `trained_on` (the inputs it was trained on) to the pool's;
    -> what was estimated, for the run's metrics. The pool's shares are `estimated` by another model where given
    (self-training's teacher: `estimate_pool` of the model trained on the labels alone), else by `model` itself.

    Why the teacher: EM multiplies each posterior by estimate / trained, again and again, so a class the model
    holds rare on its training inputs and gives a little probability everywhere (label smoothing's floor, a
    student that saw its 30,000 pseudo-labels less than once) is grown at every step: on WordNet the student's
    own estimate put 70-82 % of the pool in a class it held at 0.5 % and left 5 % test accuracy. The teacher trained on
    the labels, whose balance is known, and its estimate there was as sound as full fine-tuning's."""
    assert isinstance(model.head, ClassificationHead), "config refuses --prior pool for regression"
    found = estimated if estimated is not None else estimate_pool(model, trained_on, pool, seed)
    trained = trained_shares(model, trained_on, seed) if estimated is not None else torch.tensor(found["trained"])
    shift_head(model.head, logit_shift(trained, torch.tensor(found["pool"])))
    if estimated is None:
        return found
    return {**found, "trained": trained.tolist(), "estimated_by": "teacher", "teacher_trained": found["trained"]}

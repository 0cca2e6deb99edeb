"""The k-NN probe watched while pre-training (`--probe`): its accuracy against a naive reference, its log
lines, and that it never picks a checkpoint or stops the run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ptft.api import Pretrainer
from ptft.errors import ConfigError
from ptft.train.probe import knn_accuracy
from tests.conftest import synthetic_images, synthetic_texts


def test_knn_accuracy_matches_a_naive_vote() -> None:
    torch.manual_seed(0)
    memory, queries = torch.randn(30, 6), torch.randn(12, 6)
    memory_labels, labels = torch.randint(0, 3, (30,)), torch.randint(0, 3, (12,))
    right = 0
    for q, label in zip(queries, labels):
        cosine = [float(torch.dot(q, m) / (q.norm() * m.norm())) for m in memory]
        nearest = np.argsort(cosine)[::-1][:5].copy()
        votes = np.bincount(memory_labels[nearest].numpy(), minlength=3)
        right += int(np.argmax(votes) == int(label))  # argmax: the smallest label wins a tie
    assert knn_accuracy(memory, memory_labels, queries, labels, k=5) == pytest.approx(right / 12)
    same = torch.eye(3)
    assert knn_accuracy(same, torch.arange(3), same, torch.arange(3), k=1) == 1.0


def test_the_probe_is_logged_and_never_picks_the_weights(tmp_path: Path) -> None:
    probe = tmp_path / "probe.npz"
    labelled = synthetic_images(40, seed=4)
    np.savez(probe, images=labelled.images, labels=labelled.labels)
    run = Pretrainer(out=str(tmp_path / "run"), encoder="cnn", dim=16, depth=2, steps=6, eval_every=2, batch_size=16,
                     probe=str(probe), probe_size=30, progress=False, precision="fp32", patience=1,
                     target=0.01).fit(synthetic_images(64, seed=0))  # fmt: skip
    lines = [json.loads(x) for x in (run.run_dir / "logs" / "metrics.jsonl").read_text().splitlines()]
    readings = [x["val_knn_accuracy"] for x in lines if "val_knn_accuracy" in x]
    assert len(readings) == 3 and all(0.0 <= r <= 1.0 for r in readings)
    assert run.result.steps == 6 and run.result.stopped == "steps"  # no patience, no target: it only watches
    assert run.result.best_step == 0  # and no checkpoint was chosen by it
    meta = json.loads((run.run_dir / "ptft.json").read_text())
    assert meta["metrics"]["probe"]["knn_accuracy"] == readings[-1]
    with pytest.raises(ConfigError, match="--probe .*: give labelled image data"):
        texts = tmp_path / "texts.txt"
        texts.write_text("\n".join(synthetic_texts(10).texts))
        Pretrainer(out=str(tmp_path / "bad"), encoder="cnn", steps=1, probe=str(texts)).fit(synthetic_images(16))
    assert not (tmp_path / "bad").exists()

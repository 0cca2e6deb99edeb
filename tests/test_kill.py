"""SIGKILL during checkpointing: a real `ptft pretrain` process is killed at every file boundary of a save
(a hook in `save_checkpoint`) and, in the long set, at random moments; the previous checkpoint always
loads, resume never picks an incomplete one, leftovers of the killed save are removed, and the resumed
run ends with exactly the weights of an uninterrupted one.

The fast set (make test) kills at three boundaries; PTFT_FAULTS=1 (make test-faults) at all of them and
50 more times at random moments.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.torch import load_file

from ptft.data.types import ImageSet
from ptft.train.checkpoint import FAULT_ENV, latest_checkpoint, load_checkpoint

LONG = os.environ.get("PTFT_FAULTS") == "1"
POINTS = ["start", "model", "optimizer", "rng", "state", "manifest", "renamed", "cleaned"]
FAST_POINTS = ["optimizer", "manifest", "renamed"]
RANDOM_KILLS = 50
TIMEOUT_S = 300  # generous: a busy CI machine starts torch slowly


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory, labelled_images: ImageSet) -> Path:
    path = tmp_path_factory.mktemp("kill") / "tiny.npz"
    np.savez(path, images=labelled_images.images, labels=labelled_images.labels)
    return path


def pretrain(data: Path, out: Path, steps: int, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    argv = [sys.executable, "-m", "ptft", "pretrain", "--data", str(data), "--out", str(out), "--encoder", "mlp"]
    argv += ["--dim", "16", "--depth", "2", "--batch-size", "16", "--steps", str(steps), "--checkpoint-every", "2"]
    argv += ["--no-progress", "--precision", "fp32", "--seed", "3", *extra]
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.Popen(argv, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen) -> int:
    process.communicate(timeout=TIMEOUT_S)
    return int(process.returncode)


@pytest.fixture(scope="module")
def reference(data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("reference") / "run"
    assert finish(pretrain(data, out, 8)) == 0
    return load_file(out / "model.safetensors")


def kill_at(point: str, data: Path, out: Path, reference: dict) -> None:
    process = pretrain(data, out, 8, env={FAULT_ENV: f"{point}@4"})  # the second save: step 2's exists
    assert finish(process) == -signal.SIGKILL, f"the hook at {point} did not fire"
    latest = latest_checkpoint(out)  # also removes the killed save's leftovers
    assert latest is not None and latest.name in ("step-00000002", "step-00000004")
    if point in ("renamed", "cleaned"):
        assert latest.name == "step-00000004"  # committed before the kill
    else:
        assert latest.name == "step-00000002"  # never the incomplete one
    load_checkpoint(latest)
    assert not list((out / "resume").glob(".step-*"))
    assert finish(pretrain(data, out, 8, "--resume")) == 0
    resumed = load_file(out / "model.safetensors")
    assert resumed.keys() == reference.keys()
    assert all(np.array_equal(resumed[k].numpy(), reference[k].numpy()) for k in reference)  # bit for bit


@pytest.mark.slow
@pytest.mark.parametrize("point", POINTS if LONG else FAST_POINTS)
def test_kill_at_each_file_boundary_of_a_save(point: str, data: Path, reference: dict, tmp_path: Path) -> None:
    kill_at(point, data, tmp_path / "run", reference)


@pytest.mark.skipif(not LONG, reason="the long set: PTFT_FAULTS=1 (make test-faults)")
def test_random_kills_never_lose_a_checkpoint(data: Path, tmp_path: Path) -> None:
    out, rng, survived = tmp_path / "run", random.Random(0), 0
    for kill in range(RANDOM_KILLS):
        process = pretrain(data, out, 100_000, *(["--resume"] if kill else []))
        deadline = time.monotonic() + TIMEOUT_S
        # Look without touching: latest_checkpoint() would remove the live save's temporary folder.
        while not any((p / "MANIFEST").is_file() for p in (out / "resume").glob("step-*")):
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 0.4))  # somewhere in the stream of saves (one every 2 steps)
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=TIMEOUT_S)
        latest = latest_checkpoint(out)
        assert latest is not None, f"kill {kill}: no checkpoint survived"
        load_checkpoint(latest)
        survived += 1
    assert survived == RANDOM_KILLS

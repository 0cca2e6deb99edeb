"""Reliability: save errors (disk full, permission) keep the previous checkpoint and name the path; no load
path unpickles (canary files); SIGTERM under torchrun stops both ranks at the same step with one
checkpoint; the same seed gives a bitwise-identical run."""

from __future__ import annotations

import errno
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import ptft
import ptft.train.checkpoint as checkpoint
from ptft.api import Pretrainer, RunInterrupted
from ptft.data.images import read_images
from ptft.data.types import ImageSet
from ptft.errors import BundleError, DataError, PtftError
from ptft.train.checkpoint import latest_checkpoint, load_checkpoint


def test_disk_full_during_a_save_keeps_the_previous_checkpoint(
    tmp_path: Path, labelled_images: ImageSet, tiny: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    real, calls = checkpoint.atomic_write_bytes, {"n": 0}

    def full_disk(path: Path, data: bytes) -> None:
        calls["n"] += 1
        if "step-00000004" in str(path) and path.name == "optimizer.safetensors":
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_bytes(data[: len(data) // 2])  # half a file, then the disk is full
            tmp.unlink()
            raise BundleError(f"could not write {path}: {os.strerror(errno.ENOSPC)}")
        real(path, data)

    monkeypatch.setattr(checkpoint, "atomic_write_bytes", full_disk)
    out = tmp_path / "run"
    with pytest.raises(BundleError, match=r"could not write .*step-00000004.*optimizer.safetensors: No space left"):
        Pretrainer(out=str(out), encoder="mlp", steps=6, checkpoint_every=2, **tiny).fit(labelled_images)
    latest = latest_checkpoint(out)
    assert latest is not None and latest.name == "step-00000002"  # the previous one survives, complete
    load_checkpoint(latest)
    assert not list((out / "resume").glob(".step-*"))  # the failed save left nothing behind
    assert not (out / "MANIFEST").exists()  # and no finished bundle was claimed


def test_a_read_only_run_folder_names_the_path(tmp_path: Path, labelled_images: ImageSet, tiny: dict[str, Any]) -> None:
    if os.geteuid() == 0:
        pytest.skip("root ignores file permissions")
    out = tmp_path / "run"
    out.mkdir()
    (out / "resume").mkdir(mode=0o500)
    with pytest.raises(PtftError, match=str(out / "resume")):
        Pretrainer(out=str(out), encoder="mlp", steps=4, checkpoint_every=2, overwrite=True, **tiny).fit(
            labelled_images
        )


class Canary:
    """Unpickling this creates the file at `path`: the proof that something unpickled."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.path,))


def test_no_load_path_unpickles(tmp_path: Path, labelled_images: ImageSet, tiny: dict[str, Any]) -> None:
    canary = tmp_path / "canary"
    payload = pickle.dumps(Canary(canary))
    out = tmp_path / "run"
    with pytest.raises(RunInterrupted):
        Pretrainer(out=str(out), encoder="mlp", steps=4, checkpoint_every=2, **tiny).fit(labelled_images, stop_at=2)
    step = latest_checkpoint(out)
    assert step is not None
    attempts = 0
    for name in ("model.safetensors", "optimizer.safetensors", "rng.safetensors", "state.json"):  # checkpoint files
        original = (step / name).read_bytes()
        (step / name).write_bytes(payload)
        checkpoint.write_manifest(step, [p for p in step.iterdir() if p.name != "MANIFEST"])  # hashes match
        with pytest.raises((PtftError, ValueError)):
            load_checkpoint(step)
        (step / name).write_bytes(original)
        attempts += 1
    pickled_npz = tmp_path / "objects.npz"  # a user's data file holding a pickled object array
    np.savez(pickled_npz, images=np.array([Canary(canary)], dtype=object))
    with pytest.raises(DataError, match="pickle"):
        read_images(str(pickled_npz))
    (tmp_path / "pytorch.pt").write_bytes(payload)
    with pytest.raises(DataError):
        read_images(str(tmp_path / "pytorch.pt"))
    assert attempts == 4 and not canary.exists()


def test_the_same_seed_gives_a_bitwise_identical_run(
    tmp_path: Path, labelled_images: ImageSet, tiny: dict[str, Any]
) -> None:
    weights = []
    for name in ("a", "b"):
        Pretrainer(out=str(tmp_path / name), encoder="cnn", objective="simclr", steps=3, **tiny).fit(labelled_images)
        weights.append(ptft.load(tmp_path / name).encoder.state_dict())
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    Pretrainer(out=str(tmp_path / "c"), encoder="cnn", objective="simclr", steps=3, seed=1, **tiny).fit(labelled_images)
    other = ptft.load(tmp_path / "c").encoder.state_dict()
    assert not all(torch.equal(weights[0][k], other[k]) for k in other)


@pytest.mark.slow
def test_sigterm_stops_both_torchrun_ranks_at_the_same_step(tmp_path: Path, labelled_images: ImageSet) -> None:
    from tests.conftest import explain, free_port

    data = tmp_path / "tiny.npz"
    np.savez(data, images=labelled_images.images, labels=labelled_images.labels)
    out = tmp_path / "run"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1"]
    command += ["--master-port", str(free_port()), "-m", "ptft", "pretrain", "--data", str(data), "--out", str(out)]
    command += ["--encoder", "mlp", "--dim", "16", "--depth", "2", "--batch-size", "8", "--steps", "100000"]
    command += ["--log-every", "1", "--no-progress", "--precision", "fp32"]
    proc = subprocess.Popen(command, env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)  # fmt: skip
    log = out / "logs" / "metrics.jsonl"
    deadline = time.monotonic() + 300
    while (not log.is_file() or len(log.read_text().splitlines()) < 3) and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGTERM)  # pre-emption: every process of the job gets it
    stdout, stderr = proc.communicate(timeout=300)  # never hangs
    assert proc.returncode != 0, explain(subprocess.CompletedProcess(command, proc.returncode, stdout, stderr))
    assert "--resume" in stderr
    saved = sorted((out / "resume").glob("step-*"))
    assert len(saved) == 1  # one complete checkpoint, written once (rank 0) for the step both ranks stopped at
    load_checkpoint(saved[0], rank=0)
    load_checkpoint(saved[0], rank=1)  # both ranks' random states are in it


@pytest.mark.parametrize("version", ["2.5.1", "2.5.1+cpu", "1.13.0", "garbage"])
def test_torch_older_than_2_6_is_refused(version: str) -> None:
    from ptft.safety import check_torch_version

    with pytest.raises(ImportError, match=r"torch >= 2\.6.*CVE-2025-32434.*pip install"):
        check_torch_version(version)


@pytest.mark.parametrize("version", ["2.6.0", "2.13.0+cpu", "3.0.0a0"])
def test_torch_2_6_and_newer_is_accepted(version: str) -> None:
    from ptft.safety import check_torch_version

    check_torch_version(version)


class WorkerSeed:
    """Rows whose values are the torch seed of the process that gathers them (a loader worker)."""

    def __len__(self) -> int:
        return 64

    def __getitem__(self, index: torch.Tensor) -> torch.Tensor:
        return torch.full((len(index), 1), torch.initial_seed() % 2**62, dtype=torch.int64)


def test_loader_workers_get_distinct_seeds_that_follow_the_run_seed() -> None:
    from ptft.train.batches import BatchStream

    def seeds(run_seed: int) -> list[int]:
        stream = BatchStream(WorkerSeed(), None, 8, seed=run_seed, workers=2)
        drawn = [int(stream.next()[0].x[0, 0]) for _ in range(6)]
        stream.close()
        return drawn

    first = seeds(0)
    assert len(set(first)) == 2 and torch.initial_seed() % 2**62 not in first  # two workers, neither the main
    assert seeds(0) == first and set(seeds(1)).isdisjoint(first)


class BrokenRows:
    """Rows whose reading fails as a damaged prepared corpus does: with a ptft DataError."""

    def __len__(self) -> int:
        return 64

    def __getitem__(self, index: torch.Tensor) -> torch.Tensor:
        from ptft.errors import DataError

        raise DataError("shards/shard-00000.bin is shorter than its index; prepare it again")


@pytest.mark.parametrize("workers", [0, 2])
def test_a_data_error_in_a_loader_worker_reaches_the_user_as_itself(workers: int) -> None:
    from ptft.errors import DataError
    from ptft.train.batches import BatchStream

    stream = BatchStream(BrokenRows(), None, 8, seed=0, workers=workers)
    with pytest.raises(DataError) as caught:
        stream.next()
    assert str(caught.value) == "shards/shard-00000.bin is shorter than its index; prepare it again"  # no traceback
    stream.close()

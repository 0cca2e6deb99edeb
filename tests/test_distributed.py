"""Two CPU processes under torchrun (gloo): the CLI runs and writes one bundle, and DDP keeps the ranks'
weights identical although each rank sees other images and other augmentations."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import ptft
from ptft.data.types import ImageSet
from tests.conftest import explain, free_port

pytestmark = pytest.mark.slow
TIMEOUT_S = 300  # generous: a busy CI machine starts torch slowly

# Each rank runs `ptft pretrain` through `ptft.cli.main` (in-process, so it can keep a handle on the
# encoder the Pretrainer builds), saves the weights it holds in memory and notes whether the CLI left the
# process group open; then it closes the group itself so that this run always exits cleanly.
RANK_SCRIPT = textwrap.dedent(
    """
    import os
    import sys

    import torch
    import torch.distributed as dist
    from safetensors.torch import save_file

    import ptft.train.pretrain
    from ptft import cli

    torch.set_num_threads(1)
    folder, argv = sys.argv[1], sys.argv[2:]
    rank = os.environ["RANK"]
    built = []
    build_encoder = ptft.train.pretrain.build_encoder


    def keep(spec):
        built.append(build_encoder(spec))
        initial = {name: p.detach().clone() for name, p in built[-1].named_parameters()}
        save_file(initial, os.path.join(folder, f"initial{rank}.safetensors"))
        return built[-1]


    ptft.train.pretrain.build_encoder = keep
    code = cli.main(argv)
    weights = {name: p.detach().contiguous() for name, p in built[0].named_parameters()}
    save_file(weights, os.path.join(folder, f"rank{rank}.safetensors"))
    with open(os.path.join(folder, f"state{rank}.txt"), "w") as fh:
        fh.write(f"{code} {dist.is_initialized()}")
    if dist.is_initialized():
        dist.destroy_process_group()
    # as ptft.cli.run does under torchrun: gloo can abort in C++ teardown at interpreter exit ("terminate
    # called without an active exception", ~1 run in 7), failing a run whose work is done and flushed
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
    """
)


def torchrun(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2"]
    command += ["--master-addr", "127.0.0.1", "--master-port", str(free_port()), *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)


PRETRAIN = ["pretrain", "--dim", "16", "--depth", "2", "--batch-size", "8", "--steps", "3"]
PRETRAIN += ["--log-every", "1", "--no-progress", "--precision", "fp32"]


@pytest.fixture
def npz(tmp_path: Path, labelled_images: ImageSet) -> Path:
    path = tmp_path / "tiny.npz"
    np.savez(path, images=labelled_images.images, labels=labelled_images.labels)
    return path


def test_cli_pretrain_under_torchrun_writes_one_bundle(npz: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    options = ["--encoder", "mlp", "--objective", "mae", "--data", str(npz), "--out", str(out)]
    done = torchrun(["-m", "ptft", *PRETRAIN, *options], tmp_path)
    assert done.stdout.count("pre-trained 3 steps") == 2, explain(done)  # both ranks finished
    model = ptft.load(out)
    assert model.meta["metrics"]["steps"] == 3
    assert model.meta["metrics"]["items_seen"] == 3 * 8 * 2  # global batch = batch_size x world
    assert not (out / "resume").exists()
    assert model.embed(np.zeros((2, 1, 16, 16), dtype=np.uint8)).shape == (2, 16)
    assert done.returncode == 0, explain(done)


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory: pytest.TempPathFactory, labelled_images: ImageSet) -> Path:
    """One 2-rank CNN + SimCLR run (batch norm, per-rank augmentations) through `cli.main`; its files."""
    folder = tmp_path_factory.mktemp("ddp")
    np.savez(folder / "tiny.npz", images=labelled_images.images)
    (folder / "rank_script.py").write_text(RANK_SCRIPT)
    options = ["--encoder", "cnn", "--objective", "simclr", "--data", str(folder / "tiny.npz")]
    done = torchrun(
        [str(folder / "rank_script.py"), str(folder), *PRETRAIN, *options, "--out", str(folder / "run")], folder
    )
    assert done.returncode == 0, explain(done)
    return folder


def test_ranks_agree_on_the_weights(ddp_run: Path) -> None:
    rank0 = load_file(str(ddp_run / "rank0.safetensors"))
    rank1 = load_file(str(ddp_run / "rank1.safetensors"))
    assert rank0.keys() == rank1.keys() and len(rank0) > 0
    for name in rank0:
        assert torch.equal(rank0[name], rank1[name]), name
    # Not trivially: the ranks start from different random weights (DDP broadcasts rank 0's) and three
    # steps change them.
    initial0 = load_file(str(ddp_run / "initial0.safetensors"))
    initial1 = load_file(str(ddp_run / "initial1.safetensors"))
    assert any(not torch.equal(initial0[name], initial1[name]) for name in rank0)
    assert any(not torch.equal(initial0[name], rank0[name]) for name in rank0)
    saved = load_file(str(ddp_run / "run" / "model.safetensors"))
    for name, value in rank0.items():  # the bundle holds what the ranks trained
        assert torch.equal(saved[f"encoder.{name}"], value), name
    assert ptft.load(ddp_run / "run").meta["metrics"]["items_seen"] == 3 * 8 * 2


def test_cli_main_closes_the_process_group(ddp_run: Path) -> None:
    states = [(ddp_run / f"state{rank}.txt").read_text().split() for rank in (0, 1)]
    assert states == [["0", "False"], ["0", "False"]]


def test_two_ranks_of_batch_b_train_like_one_process_of_batch_2b(npz: Path, tmp_path: Path) -> None:
    """DDP averages the ranks' gradients, and each rank takes its slice of the same global batch, so with
    a deterministic objective (supervised, no augmentation or dropout) 2 x b equals 1 x 2b."""
    common = ["finetune", "--data", str(npz), "--encoder", "mlp", "--dim", "16", "--depth", "2", "--no-augment"]
    common += ["--labels-per-class", "8", "--steps", "4", "--eval-every", "100", "--no-progress", "--precision", "fp32"]
    done = torchrun(["-m", "ptft", *common, "--batch-size", "8", "--out", str(tmp_path / "ddp")], tmp_path)
    assert done.returncode == 0, explain(done)
    single = subprocess.run(
        [sys.executable, "-m", "ptft", *common, "--batch-size", "16", "--out", str(tmp_path / "one")],
        cwd=tmp_path, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True,
        timeout=TIMEOUT_S, check=False,
    )  # fmt: skip
    assert single.returncode == 0, explain(single)
    ddp, one = load_file(tmp_path / "ddp" / "model.safetensors"), load_file(tmp_path / "one" / "model.safetensors")
    assert ddp.keys() == one.keys()
    for name in ddp:
        torch.testing.assert_close(ddp[name], one[name], atol=1e-5, rtol=1e-4, msg=name)
    assert ptft.load(tmp_path / "one").meta["metrics"]["steps"] == 4

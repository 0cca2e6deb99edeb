"""Kill and resume, corrupt and load: an interrupted run resumed to the end equals an uninterrupted one
bit for bit, and every damaged, incomplete or mismatched bundle fails with a BundleError naming it."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import ptft
from ptft.api import FineTuner, Pretrainer, RunInterrupted
from ptft.data.types import ImageSet
from ptft.errors import BundleError, ConfigError
from ptft.train.checkpoint import read_bundle, write_bundle, write_manifest

Metrics = Callable[[Path], list[dict[str, Any]]]
SRC = Path(__file__).resolve().parents[1] / "src"


def tensors_equal(a: Path, b: Path) -> bool:
    ta, tb = load_file(str(a)), load_file(str(b))
    return ta.keys() == tb.keys() and all(torch.equal(ta[k], tb[k]) for k in ta)


def losses(metrics: Metrics, run_dir: Path) -> list[tuple[int, float, float]]:
    return [(row["step"], row["loss"], row["grad_norm"]) for row in metrics(run_dir) if "loss" in row]


# ---- resume ----


@pytest.mark.parametrize(
    ("encoder", "objective", "accumulate"),
    [
        ("mlp", "simclr", 1),
        ("mlp", "mae", 2),
        ("mlp", "simclr", 2),
        ("cnn", "mae", 1),
        ("cnn", "simclr", 2),
        ("vit", "mae", 1),
    ],
)
def test_pretrain_interrupted_and_resumed_equals_uninterrupted(
    encoder: str,
    objective: str,
    accumulate: int,
    labelled_images: ImageSet,
    tiny: dict[str, Any],
    metrics: Metrics,
    tmp_path: Path,
) -> None:
    options = dict(
        tiny, encoder=encoder, objective=objective, steps=12, log_every=1, checkpoint_every=4, accumulate=accumulate
    )
    Pretrainer(out=str(tmp_path / "A"), **options).fit(labelled_images)

    with pytest.raises(RunInterrupted, match="--resume"):
        Pretrainer(out=str(tmp_path / "B"), **options).fit(labelled_images, stop_at=6)
    assert [s for s, _, _ in losses(metrics, tmp_path / "B")] == list(range(1, 7))
    assert (tmp_path / "B" / "resume").is_dir()
    with pytest.raises(BundleError, match="MANIFEST"):  # an interrupted run is not a bundle yet
        ptft.load(tmp_path / "B")

    trainer = Pretrainer(out=str(tmp_path / "B"), resume=True, **options).fit(labelled_images)
    assert trainer.result.steps == 12 and trainer.result.stopped == "steps"
    a, b = losses(metrics, tmp_path / "A"), losses(metrics, tmp_path / "B")
    assert [s for s, _, _ in a] == list(range(1, 13))
    assert a == b  # exact float equality, step by step
    assert tensors_equal(tmp_path / "A" / "model.safetensors", tmp_path / "B" / "model.safetensors")
    assert not (tmp_path / "B" / "resume").exists()  # finished: nothing left to resume


def _sigterm_at_micro_batch(monkeypatch: pytest.MonkeyPatch, micro_batch: int) -> None:
    """Deliver a real SIGTERM to this process while the loop draws micro-batch number `micro_batch`."""
    from ptft.train.batches import BatchStream

    drawn = {"n": 0}
    original = BatchStream.next

    def next_then_maybe_term(self: BatchStream) -> Any:
        drawn["n"] += 1
        if drawn["n"] == micro_batch:
            os.kill(os.getpid(), signal.SIGTERM)
        return original(self)

    monkeypatch.setattr(BatchStream, "next", next_then_maybe_term)


@pytest.mark.parametrize(
    ("data", "accumulate", "cut"),
    [
        ("images", 2, "mid-epoch"),  # SIGTERM after step 3 of 8 per epoch
        ("images", 2, "epoch-boundary"),  # after step 8: 8 steps x 2 micro-batches x 8 images = the 128 images
        ("images", 2, "mid-accumulation"),  # SIGTERM between the two micro-batches of step 5
        ("texts", 2, "mid-accumulation"),  # MLM: random masking, length-bucketed batches
        ("texts", 1, "epoch-boundary"),
    ],
)
def test_exact_resume_with_dropout_two_loader_workers_and_accumulation(
    data: str,
    accumulate: int,
    cut: str,
    labelled_images: ImageSet,
    labelled_texts: Any,
    tiny: dict[str, Any],
    metrics: Metrics,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Cut and resumed, a run with dropout, shuffling, 2 loader worker processes and gradient accumulation
    logs the same losses and gradient norms and ends with the same weights, bit for bit, as a run never cut;
    and the loader workers change nothing: the same run with 0 workers is identical too."""
    samples = labelled_images if data == "images" else labelled_texts
    steps_per_epoch = len(samples) // (tiny["batch_size"] * accumulate)
    options = dict(tiny, dropout=0.1, workers=2, steps=steps_per_epoch + 4, log_every=1, accumulate=accumulate)
    options |= {"encoder": "vit", "objective": "mae"} if data == "images" else {"max_length": 16, "vocab_size": 200}
    Pretrainer(out=str(tmp_path / "A"), **options).fit(samples)
    Pretrainer(out=str(tmp_path / "no-workers"), **{**options, "workers": 0}).fit(samples)

    stop_at = {"mid-epoch": 3, "epoch-boundary": steps_per_epoch}.get(cut, 0)
    if cut == "mid-accumulation":
        _sigterm_at_micro_batch(monkeypatch, 4 * accumulate + 1)  # the first micro-batch of step 5
    with pytest.raises(RunInterrupted, match="--resume"):
        Pretrainer(out=str(tmp_path / "B"), **options).fit(samples, stop_at=stop_at)
    monkeypatch.undo()
    saved = sorted((tmp_path / "B" / "resume").glob("step-*"))
    assert [p.name for p in saved] == [f"step-{stop_at or 5:08d}"]  # a signal mid-step saves after that step
    Pretrainer(out=str(tmp_path / "B"), resume=True, **{**options, "workers": 1}).fit(samples)

    a = losses(metrics, tmp_path / "A")
    assert len(a) == steps_per_epoch + 4
    assert a == losses(metrics, tmp_path / "B") == losses(metrics, tmp_path / "no-workers")
    assert tensors_equal(tmp_path / "A" / "model.safetensors", tmp_path / "B" / "model.safetensors")
    assert tensors_equal(tmp_path / "A" / "model.safetensors", tmp_path / "no-workers" / "model.safetensors")


def test_sigterm_saves_a_checkpoint_that_resumes(npz_path: Path, metrics: Metrics, tmp_path: Path) -> None:
    """A real pre-emption: SIGTERM to `ptft pretrain` mid-run -> exit code 3, a checkpoint, a resumable run."""
    out = tmp_path / "run"
    options = {"data": str(npz_path), "out": str(out), "encoder": "mlp", "objective": "mae", "dim": 16, "depth": 2}
    options |= {"batch_size": 8, "steps": 100_000, "log_every": 1, "progress": False, "precision": "fp32"}
    argv = [f"--{key.replace('_', '-')}={value}" for key, value in options.items() if key != "progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ptft", "pretrain", *argv, "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    log = out / "logs" / "metrics.jsonl"
    deadline = time.monotonic() + 60
    while (not log.is_file() or len(log.read_text().splitlines()) < 3) and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 3, stderr
    assert "--resume" in stderr and "Traceback" not in stderr
    stopped = metrics(out)[-1]["step"]
    assert 3 <= stopped < 100_000 and (out / "resume" / f"step-{stopped:08d}").is_dir()

    with pytest.raises(RunInterrupted, match=f"stopped at step {stopped + 2} of 100000"):
        Pretrainer(**options, resume=True).fit(stop_at=stopped + 2)
    assert [row["step"] for row in metrics(out)] == list(range(1, stopped + 3))  # one run, continued


@pytest.mark.parametrize("ema", [0.0, 0.9])  # 0.9: the weight average is saved and restored too
def test_finetune_interrupted_and_resumed_equals_uninterrupted(
    labelled_images: ImageSet, tiny: dict[str, Any], metrics: Metrics, tmp_path: Path, ema: float
) -> None:
    options = dict(
        tiny,
        ema=ema,
        encoder="mlp",
        labels_per_class=4,
        val_per_class=4,
        steps=12,
        log_every=1,
        checkpoint_every=4,
        eval_every=3,
        patience=0,
        lr=3e-3,
    )
    FineTuner(out=str(tmp_path / "A"), **options).fit(labelled_images)
    with pytest.raises(RunInterrupted):
        FineTuner(out=str(tmp_path / "B"), **options).fit(labelled_images, stop_at=6)
    FineTuner(out=str(tmp_path / "B"), resume=True, **options).fit(labelled_images)

    def rows(run: Path) -> list[dict[str, Any]]:  # losses and evaluations; timings differ between runs
        return [{k: v for k, v in r.items() if k not in ("items_per_s", "elapsed_s")} for r in metrics(run)]

    assert any("val_accuracy" in r for r in rows(tmp_path / "A"))
    assert rows(tmp_path / "A") == rows(tmp_path / "B")
    assert tensors_equal(tmp_path / "A" / "model.safetensors", tmp_path / "B" / "model.safetensors")


def test_resume_of_a_finished_run_does_not_train_it_again(
    labelled_images: ImageSet, tiny: dict[str, Any], metrics: Metrics, tmp_path: Path
) -> None:
    options = dict(tiny, encoder="mlp", objective="mae", steps=3, log_every=1, out=str(tmp_path / "run"))
    Pretrainer(**options).fit(labelled_images)
    try:
        Pretrainer(resume=True, **options).fit(labelled_images)
    except ptft.errors.PtftError:
        return  # refusing is fine too
    steps = [row["step"] for row in metrics(tmp_path / "run")]
    assert steps == sorted(set(steps)), f"log does not read as one run: steps {steps}"


def test_resume_with_a_changed_config_is_refused(
    labelled_images: ImageSet, tiny: dict[str, Any], tmp_path: Path
) -> None:
    options = dict(tiny, encoder="mlp", objective="mae", steps=6, out=str(tmp_path / "run"))
    with pytest.raises(RunInterrupted):
        Pretrainer(**options).fit(labelled_images, stop_at=2)
    with pytest.raises(ConfigError, match="--resume"):
        Pretrainer(**{**options, "lr": 1e-2}, resume=True).fit(labelled_images)
    with pytest.raises(ConfigError, match="--resume"):
        Pretrainer(**{**options, "objective": "simclr"}, resume=True).fit(labelled_images)
    Pretrainer(**options, resume=True).fit(labelled_images)  # the original options still resume
    assert ptft.load(tmp_path / "run").meta["metrics"]["steps"] == 6


def test_resume_without_a_run_is_refused(labelled_images: ImageSet, tiny: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="no run to continue"):
        Pretrainer(out=str(tmp_path / "none"), resume=True, steps=2, **tiny).fit(labelled_images)


# ---- bundles ----


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory, labelled_images: ImageSet) -> Path:
    """A finished tiny pre-training bundle on 32 images; tests copy it before damaging it."""
    run = tmp_path_factory.mktemp("bundle") / "run"
    Pretrainer(
        out=str(run),
        encoder="mlp",
        objective="mae",
        dim=16,
        depth=2,
        steps=2,
        batch_size=8,
        progress=False,
        precision="fp32",
    ).fit(labelled_images.subset(np.arange(32)))
    return run


@pytest.fixture
def bundle_copy(bundle: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(bundle, tmp_path / "copy"))


def test_manifest_lists_the_bundle_files_with_their_sha256(bundle: Path) -> None:
    lines = (bundle / "MANIFEST").read_text().splitlines()
    listed = {}
    for line in lines:
        digest, name = line.split("  ", 1)
        listed[name] = digest
    assert {"ptft.json", "model.safetensors"} <= set(listed)
    assert not any(name.startswith(("logs", "resume")) for name in listed)
    for name, digest in listed.items():
        assert hashlib.sha256((bundle / name).read_bytes()).hexdigest() == digest
    meta = json.loads((bundle / "ptft.json").read_text())
    assert meta["format_version"] == 1 and meta["kind"] == "pretrain" and meta["preprocessor"]["kind"] == "image"
    ptft.load(bundle)  # the pristine bundle loads


def test_flipped_weight_byte_is_caught_by_sha256(bundle_copy: Path) -> None:
    path = bundle_copy / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="sha256") as caught:
        ptft.load(bundle_copy)
    assert "model.safetensors" in str(caught.value)


def test_truncated_meta_is_refused(bundle_copy: Path) -> None:
    path = bundle_copy / "ptft.json"
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(BundleError, match="ptft.json"):
        ptft.load(bundle_copy)
    # Even with a MANIFEST that matches the damage, invalid JSON is a BundleError, not a traceback.
    write_manifest(bundle_copy, [bundle_copy / "ptft.json", bundle_copy / "model.safetensors"])
    with pytest.raises(BundleError, match="not valid JSON"):
        ptft.load(bundle_copy)


def test_garbage_weights_with_matching_manifest_are_refused(bundle_copy: Path) -> None:
    (bundle_copy / "model.safetensors").write_bytes(b"\x00" * 5 + b"not safetensors")
    write_manifest(bundle_copy, [bundle_copy / "ptft.json", bundle_copy / "model.safetensors"])
    with pytest.raises(BundleError, match="safetensors"):
        ptft.load(bundle_copy)


def test_missing_manifest_or_listed_file_or_folder(bundle_copy: Path, tmp_path: Path) -> None:
    (bundle_copy / "model.safetensors").unlink()
    with pytest.raises(BundleError, match="missing"):
        ptft.load(bundle_copy)
    (bundle_copy / "MANIFEST").unlink()
    with pytest.raises(BundleError, match="MANIFEST"):
        ptft.load(bundle_copy)
    with pytest.raises(BundleError, match="not a folder"):
        ptft.load(tmp_path / "does-not-exist")


def test_other_format_version_is_refused(bundle_copy: Path) -> None:
    meta, tensors = read_bundle(bundle_copy)
    meta.pop("format_version")
    write_bundle(bundle_copy, {**meta, "format_version": 99}, tensors)  # write_bundle puts its own first
    with pytest.raises(BundleError, match="format 99"):
        ptft.load(bundle_copy)


def test_nan_weights_are_never_saved(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="NaN"):
        write_bundle(tmp_path / "run", {"kind": "pretrain"}, {"encoder.w": torch.tensor([1.0, float("nan")])})
    assert not (tmp_path / "run" / "MANIFEST").exists()


def test_existing_run_folder_needs_overwrite(
    bundle_copy: Path, labelled_images: ImageSet, tiny: dict[str, Any]
) -> None:
    options = dict(tiny, encoder="mlp", objective="mae", steps=1, out=str(bundle_copy))
    with pytest.raises(BundleError, match="--overwrite"):
        Pretrainer(**options).fit(labelled_images)
    assert read_bundle(bundle_copy)[0]["data"]["n"] == 32  # the earlier run is untouched
    Pretrainer(**options, overwrite=True).fit(labelled_images)
    assert read_bundle(bundle_copy)[0]["data"]["n"] == len(labelled_images)


# ---- fine-tuning from a bundle ----


@pytest.fixture(scope="module")
def linear_probe(tmp_path_factory: pytest.TempPathFactory, labelled_images: ImageSet) -> tuple[Path, Path, FineTuner]:
    """A CNN (batch norm) pre-trained 2 steps, then linear-probed 6 steps at a high learning rate."""
    images = labelled_images
    root = tmp_path_factory.mktemp("probe")
    common: dict[str, Any] = {"batch_size": 8, "progress": False, "precision": "fp32"}
    Pretrainer(out=str(root / "pre"), encoder="cnn", objective="simclr", dim=16, depth=2, steps=2, **common).fit(images)
    tuned = FineTuner(
        out=str(root / "ft"),
        pretrained=str(root / "pre"),
        strategy="linear",
        labels_per_class=4,
        val_per_class=4,
        steps=6,
        eval_every=3,
        lr=1e-2,
        **common,
    ).fit(images)
    return root / "pre", root / "ft", tuned


def test_linear_probe_loads_the_pretrained_encoder_strictly_and_keeps_its_weights(
    linear_probe: tuple[Path, Path, FineTuner],
) -> None:
    pre, ft, tuned = linear_probe
    before = load_file(str(pre / "model.safetensors"))
    after = load_file(str(ft / "model.safetensors"))
    assert {k for k in after if k.startswith("encoder.")} == set(before)  # every pre-trained tensor, no other
    weights = {f"encoder.{name}" for name, _ in tuned.model_.encoder.named_parameters()}
    assert weights and weights < set(before)
    for key in weights:  # loaded (a fresh encoder would differ) and frozen
        assert torch.equal(before[key], after[key]), key
    head = [k for k in after if k.startswith("head.")]
    assert head and not all(torch.equal(after[k], torch.zeros_like(after[k])) for k in head)
    assert tuned.model_.meta["pretrained_from"]["path"] == str(pre)
    assert ptft.load(ft).meta["encoder"] == ptft.load(pre).meta["encoder"]
    assert ptft.load(ft).meta["preprocessor"] == ptft.load(pre).meta["preprocessor"]


def test_linear_probe_keeps_the_batch_norm_statistics(linear_probe: tuple[Path, Path, FineTuner]) -> None:
    pre, ft, _ = linear_probe
    before = load_file(str(pre / "model.safetensors"))
    after = load_file(str(ft / "model.safetensors"))
    changed = sorted(k for k in before if not torch.equal(before[k], after[k]))
    assert changed == []


def _tampered_bundle(bundle: Path, tmp_path: Path, **changes: Any) -> Path:
    """A committed bundle whose stored encoder spec no longer fits its weights."""
    meta, tensors = read_bundle(bundle)
    meta.pop("format_version")
    meta["encoder"] = {**meta["encoder"], **changes}
    out = tmp_path / "tampered"
    write_bundle(out, meta, tensors)
    return out


def test_finetune_from_bundle_with_fewer_blocks_than_weights_fails_clearly(
    bundle: Path, labelled_images: ImageSet, tmp_path: Path
) -> None:
    tampered = _tampered_bundle(bundle, tmp_path, depth=1)
    with pytest.raises(BundleError, match="unexpected"):
        FineTuner(out=str(tmp_path / "ft"), pretrained=str(tampered), labels_per_class=4, steps=1).fit(labelled_images)


def test_load_of_bundle_whose_spec_does_not_fit_weights_fails_clearly(bundle: Path, tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="do not match"):
        ptft.load(_tampered_bundle(bundle, tmp_path, dim=32))


def test_finetune_from_bundle_whose_weight_shapes_differ_fails_clearly(
    bundle: Path, labelled_images: ImageSet, tmp_path: Path
) -> None:
    tampered = _tampered_bundle(bundle, tmp_path, dim=32)
    with pytest.raises(BundleError, match="tampered"):
        FineTuner(out=str(tmp_path / "ft"), pretrained=str(tampered), labels_per_class=4, steps=1).fit(labelled_images)


# ---- no pickle ----

PICKLE_PATTERNS = {
    "pickle.load": re.compile(r"\b(c?pickle|dill|joblib|marshal)\.loads?\("),
    "allow_pickle=True": re.compile(r"allow_pickle\s*=\s*True"),
    "trust_remote_code=True": re.compile(r"trust_remote_code\s*=\s*True"),
}


def _call_arguments(text: str, start: int) -> str:
    """The text between the parenthesis opening at `start` and its matching close."""
    depth = 0
    for end in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[end], 0)
        if depth == 0:
            return text[start + 1 : end]
    return text[start + 1 :]


def pickle_findings(text: str) -> list[str]:
    found = [name for name, pattern in PICKLE_PATTERNS.items() if pattern.search(text)]
    for match in re.finditer(r"torch\.load\s*\(", text):
        if not re.search(r"weights_only\s*=\s*True", _call_arguments(text, match.end() - 1)):
            found.append("torch.load without weights_only=True")
    return found


def test_the_pickle_scanner_catches_what_it_looks_for() -> None:
    assert pickle_findings("x = pickle.load(fh)") == ["pickle.load"]
    assert pickle_findings("state = torch.load(path, map_location='cpu')") == ["torch.load without weights_only=True"]
    assert pickle_findings("state = torch.load(str(path), weights_only=True)") == []
    assert pickle_findings("torch.load(f(x), map_location=g(y))\nz = dict(weights_only=True)") != []
    assert pickle_findings("np.load(p, allow_pickle=True)") == ["allow_pickle=True"]
    assert pickle_findings("from_pretrained(n, trust_remote_code=True)") == ["trust_remote_code=True"]
    assert pickle_findings("np.load(p, allow_pickle=False)") == []


def test_no_pickle_anywhere_in_src() -> None:
    files = sorted(SRC.rglob("*.py"))
    assert len(files) > 20  # the scan really covers the package
    found = {str(p.relative_to(SRC)): hits for p in files if (hits := pickle_findings(p.read_text(encoding="utf-8")))}
    assert found == {}

"""The only module that knows the on-disk format: bundles, manifests and resumable checkpoints.

A run folder:
    ptft.json          format version, versions, resolved config, preprocessor state, specs, labels, metrics
    model.safetensors  encoder.* (and head.*) tensors
    resume/step-N/     model, optimizer and RNG state (safetensors) + loop state (JSON) + its own MANIFEST
    MANIFEST           sha256 of every file above it (logs/ and resume/ excluded); written last by
                       atomic rename: it is the commit marker. No MANIFEST = incomplete bundle.
No pickle anywhere: tensors go through safetensors, everything else through JSON.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from ptft.errors import BundleError
from ptft.safety import check_torch_version

check_torch_version(torch.__version__)  # every bundle and checkpoint load goes through this module
FORMAT_VERSION = 1
MANIFEST = "MANIFEST"
META = "ptft.json"
WEIGHTS = "model.safetensors"
SKIP_IN_MANIFEST = {MANIFEST, "logs", "resume"}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary name, fsync, rename: a reader sees the old file or the new one."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise BundleError(f"could not write {path}: {exc.strerror or exc}") from None


def _tensors_bytes(tensors: dict[str, torch.Tensor]) -> bytes:
    from safetensors.torch import save

    return save({k: v.detach().cpu().contiguous() for k, v in tensors.items()})


def write_manifest(folder: Path, files: Iterable[Path]) -> None:
    lines = [f"{sha256_file(p)}  {p.relative_to(folder).as_posix()}" for p in sorted(files)]
    atomic_write_bytes(folder / MANIFEST, ("\n".join(lines) + "\n").encode())
    _fsync_dir(folder)


def verify_manifest(folder: Path) -> list[Path]:
    """Check every file the MANIFEST lists; return them. Fails naming the file and both hashes."""
    manifest = folder / MANIFEST
    if not manifest.is_file():
        raise BundleError(
            f"{folder} has no {MANIFEST}: it is not a complete ptft bundle (an interrupted save, or not a "
            "run folder). Resume the run with --resume, or point at a finished run."
        )
    files = []
    for n, line in enumerate(manifest.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        expected, _, name = line.partition("  ")
        path = folder / name
        if not name or len(expected) != 64 or ".." in Path(name).parts:
            raise BundleError(f"{manifest} line {n} is malformed: {line[:80]!r}")
        if not path.is_file():
            raise BundleError(f"{path} is listed in {manifest} but missing")
        actual = sha256_file(path)
        if actual != expected:
            raise BundleError(f"{path} is corrupt: sha256 {actual} but {MANIFEST} expects {expected}")
        files.append(path)
    return files


def write_bundle(folder: Path, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
    """Write ptft.json + model.safetensors, then the MANIFEST that commits them."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MANIFEST).unlink(missing_ok=True)  # from here until the end the bundle reads as incomplete
    for name, value in tensors.items():
        if value.dtype.is_floating_point and not torch.isfinite(value).all():
            raise BundleError(f"refusing to save {folder}: tensor {name} holds NaN or inf")
    meta = {"format_version": FORMAT_VERSION, **meta}
    atomic_write_bytes(folder / META, json.dumps(meta, indent=2, sort_keys=True).encode())
    atomic_write_bytes(folder / WEIGHTS, _tensors_bytes(tensors))
    extra = [
        p for p in folder.iterdir() if p.is_file() and p.name not in SKIP_IN_MANIFEST and not p.name.startswith(".")
    ]
    write_manifest(folder, extra)


def read_meta(folder: Path) -> dict[str, Any]:
    try:
        meta = json.loads((folder / META).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"{folder / META} is not valid JSON: {exc}") from None
    if not isinstance(meta, dict):
        raise BundleError(f"{folder / META} must hold a JSON object")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise BundleError(f"{folder / META}: bundle format {version!r}; this ptft reads format {FORMAT_VERSION}")
    return meta


def _load_tensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise BundleError(f"{path} is not a readable safetensors file: {exc}") from None


def read_bundle(folder: str | Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    folder = Path(folder)
    if not folder.is_dir():
        raise BundleError(f"{folder} is not a folder; expected a ptft run folder with {META} and {MANIFEST}")
    verify_manifest(folder)
    return read_meta(folder), _load_tensors(folder / WEIGHTS)


# ---------------------------------------------------------------- resumable checkpoints


def _optimizer_to_files(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, slots in state["state"].items():
        for key, value in slots.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{index}.{key}"] = value
            else:
                scalars.setdefault(str(index), {})[key] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _optimizer_from_files(tensors: dict[str, torch.Tensor], info: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    for index, slots in info["scalars"].items():
        state.setdefault(int(index), {}).update(slots)
    groups = [{**g, "betas": tuple(g["betas"])} if "betas" in g else g for g in info["param_groups"]]
    return {"state": state, "param_groups": groups}


FAULT_ENV = "PTFT_KILL_AT"  # test hook: "<point>@<step>" SIGKILLs this process at that point of that save


def _fault_point(point: str, step: int) -> None:
    """Where the kill tests stop a save dead (SIGKILL: no cleanup, no flush), one file boundary at a time."""
    if os.environ.get(FAULT_ENV) == f"{point}@{step}":
        os.kill(os.getpid(), signal.SIGKILL)


def save_checkpoint(
    run_dir: Path,
    step: int,
    model_state: dict[str, torch.Tensor],
    optimizer_state: dict[str, Any],
    loop_state: dict[str, Any],
    keep: int = 1,
    rng_states: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Write resume/step-N atomically (temporary folder, MANIFEST, rename) and drop older ones."""
    resume = run_dir / "resume"
    final = resume / f"step-{step:08d}"
    tmp = resume / f".step-{step:08d}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
    except OSError as exc:
        raise BundleError(f"could not create {tmp}: {exc.strerror or exc}") from None
    opt_tensors, opt_info = _optimizer_to_files(optimizer_state)
    rng = rng_states or local_rng_state(0)
    try:
        _fault_point("start", step)
        atomic_write_bytes(tmp / "model.safetensors", _tensors_bytes(model_state))
        _fault_point("model", step)
        atomic_write_bytes(tmp / "optimizer.safetensors", _tensors_bytes(opt_tensors))
        _fault_point("optimizer", step)
        atomic_write_bytes(tmp / "rng.safetensors", _tensors_bytes(rng))
        _fault_point("rng", step)
        state = {"step": step, "optimizer": opt_info, "loop": loop_state}
        atomic_write_bytes(tmp / "state.json", json.dumps(state, sort_keys=True).encode())
        _fault_point("state", step)
        write_manifest(tmp, [p for p in tmp.iterdir() if p.name != MANIFEST])
        _fault_point("manifest", step)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        _fsync_dir(resume)
        _fault_point("renamed", step)
    except (BundleError, OSError):
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for old in sorted(p for p in resume.glob("step-*") if p != final)[
        : max(0, len(list(resume.glob("step-*"))) - keep)
    ]:
        shutil.rmtree(old, ignore_errors=True)
    _fault_point("cleaned", step)
    return final


def latest_checkpoint(run_dir: Path) -> Path | None:
    """Newest complete checkpoint; stale temporary folders from a killed save are removed."""
    resume = run_dir / "resume"
    if not resume.is_dir():
        return None
    for stale in resume.glob(".step-*.tmp"):
        shutil.rmtree(stale, ignore_errors=True)
    for candidate in sorted(resume.glob("step-*"), reverse=True):
        try:
            verify_manifest(candidate)
            return candidate
        except BundleError:
            continue
    return None


def local_rng_state(rank: int) -> dict[str, torch.Tensor]:
    """This process's random generators, keyed by rank (each torchrun rank has its own stream)."""
    states = {f"torch.{rank}": torch.get_rng_state()}
    if torch.cuda.is_available():
        states[f"cuda.{rank}"] = torch.cuda.get_rng_state()
    return states


def load_checkpoint(path: Path, rank: int = 0) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, Any]]:
    """-> (model state, optimizer state, loop state); restores this rank's RNG as a side effect."""
    verify_manifest(path)
    model_state = _load_tensors(path / "model.safetensors")
    state = json.loads((path / "state.json").read_text(encoding="utf-8"))
    optimizer_state = _optimizer_from_files(_load_tensors(path / "optimizer.safetensors"), state["optimizer"])
    rng = _load_tensors(path / "rng.safetensors")
    if f"torch.{rank}" not in rng:
        raise BundleError(f"{path}: no random state for rank {rank}; resume with the number of processes it ran with")
    torch.set_rng_state(rng[f"torch.{rank}"])
    if f"cuda.{rank}" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state(rng[f"cuda.{rank}"])
    return model_state, optimizer_state, state["loop"]


def prepare_run_dir(run_dir: Path, overwrite: bool, resume: bool) -> None:
    """A run never replaces an earlier one unless asked."""
    if run_dir.exists() and not run_dir.is_dir():
        raise BundleError(f"{run_dir} exists and is a file; choose another --out")
    if run_dir.exists() and any(run_dir.iterdir()):
        if resume:
            return
        if not overwrite:
            raise BundleError(
                f"{run_dir} already holds a run; pass --overwrite to replace it, --resume to continue it, "
                "or choose another --out"
            )
        markers = ("config.json", META, MANIFEST, "resume", "logs")
        if not any((run_dir / name).exists() for name in markers):
            raise BundleError(f"{run_dir} is not empty and is not a ptft run folder; --overwrite only replaces runs")
        shutil.rmtree(run_dir)
    elif resume:
        raise BundleError(f"--resume given but {run_dir} holds no run to continue")
    run_dir.mkdir(parents=True, exist_ok=True)

"""Fuzzing (Hypothesis): the bundle loader (ptft.json, the safetensors file) and every data reader, fed
arbitrary content, either succeed or raise one of ptft's documented errors (PtftError: DataError,
ConfigError, BundleError) - never another exception - within a time bound per case.

`make test` runs PTFT_FUZZ_CASES (default 50) cases per target; `make test-faults` runs 1,500 per target. Both are
derandomized - the same cases in every run, so CI is reproducible; `make fuzz-explore` (PTFT_FUZZ_EXPLORE=1) draws
new random cases each run to find bugs the fixed sets miss (each one found is fixed and the fixed set re-run).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ptft
from ptft.api import Pretrainer
from ptft.data.images import read_images
from ptft.data.load import read_text_set
from ptft.errors import PtftError
from ptft.train.checkpoint import MANIFEST, write_manifest
from tests.conftest import synthetic_images

CASES = int(os.environ.get("PTFT_FUZZ_CASES", "50"))
FUZZ = settings(
    max_examples=CASES,
    deadline=5000,  # ms per case: a reader that hangs or blows up on a bad file fails here
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=os.environ.get("PTFT_FUZZ_EXPLORE") != "1",
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fuzz") / "run"
    options = {"dim": 8, "depth": 1, "heads": 2, "batch_size": 8, "progress": False, "precision": "fp32"}
    Pretrainer(out=str(out), encoder="mlp", steps=1, **options).fit(synthetic_images(32))
    return out


def expect_ptft_error(call: Callable[[], Any]) -> None:
    try:
        call()
    except PtftError:
        pass


def with_file(bundle: Path, name: str, content: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "run"
        shutil.copytree(bundle, copy)
        (copy / name).write_bytes(content)
        write_manifest(copy, [p for p in copy.iterdir() if p.is_file() and p.name != MANIFEST])  # hashes pass
        expect_ptft_error(lambda: ptft.load(copy))


@FUZZ
@given(st.binary(max_size=400))
def test_bundle_meta_bytes(bundle: Path, content: bytes) -> None:
    with_file(bundle, "ptft.json", content)


@FUZZ
@given(st.data())
def test_bundle_meta_structure(bundle: Path, data: st.DataObject) -> None:
    """A valid ptft.json with keys removed or replaced by arbitrary JSON, at any depth."""
    meta = json.loads((bundle / "ptft.json").read_text())

    def mutate(node: Any, depth: int) -> Any:
        if isinstance(node, dict) and node:
            key = data.draw(st.sampled_from(sorted(node)))
            action = data.draw(st.sampled_from(["drop", "replace", "recurse"]))
            if action == "drop":
                return {k: v for k, v in node.items() if k != key}
            if action == "replace" or depth > 3:
                return {**node, key: data.draw(JSON)}
            return {**node, key: mutate(node[key], depth + 1)}
        return data.draw(JSON)

    with_file(bundle, "ptft.json", json.dumps(mutate(meta, 0)).encode())


@FUZZ
@given(st.binary(max_size=400), st.integers(0, 2000))
def test_bundle_safetensors_header(bundle: Path, noise: bytes, cut: int) -> None:
    """The weights file: a safetensors header (length + JSON) mangled, truncated or replaced."""
    original = (bundle / "model.safetensors").read_bytes()
    content = original[:cut] + noise if noise else original[:cut]
    with_file(bundle, "model.safetensors", content)


TEXT_SUFFIXES = [".txt", ".jsonl", ".csv", ".tsv", ".parquet"]
IMAGE_NAMES = ["x.npz", "images-idx3-ubyte", "list.csv"]


@FUZZ
@given(st.sampled_from(TEXT_SUFFIXES), st.binary(max_size=600), st.booleans())
def test_text_readers(suffix: str, content: bytes, labels: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"data{suffix}"
        path.write_bytes(content)
        expect_ptft_error(lambda: read_text_set(str(path), label_column="label" if labels else None))


@FUZZ
@given(st.lists(st.text(max_size=30), max_size=6), st.integers(0, 3))
def test_text_readers_with_structured_lines(lines: list[str], skip_bad: int) -> None:
    """Lines that are almost right: JSON objects with odd values, CSV rows with odd quoting."""
    with tempfile.TemporaryDirectory() as tmp:
        jsonl = Path(tmp) / "d.jsonl"
        jsonl.write_text(
            "\n".join(json.dumps({"text": t, "label": t[:1]}) if i % 2 else t for i, t in enumerate(lines))
        )
        csv_path = Path(tmp) / "d.csv"
        csv_path.write_text("text,label\n" + "\n".join(lines), encoding="utf-8", errors="surrogatepass")
        expect_ptft_error(lambda: read_text_set(str(jsonl), skip_bad=skip_bad))
        expect_ptft_error(lambda: read_text_set(str(csv_path), skip_bad=skip_bad))


@FUZZ
@given(st.sampled_from(IMAGE_NAMES), st.binary(max_size=600))
def test_image_readers(name: str, content: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(content)
        expect_ptft_error(lambda: read_images(str(path)))


@FUZZ
@given(st.binary(max_size=300), st.sampled_from(["a.png", "b.jpg", "c.bmp"]))
def test_image_folder_with_broken_files(content: bytes, name: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "imgs" / "cat"
        folder.mkdir(parents=True)
        (folder / name).write_bytes(content)
        (folder / "ok.npy").write_bytes(np.zeros(3).tobytes())  # not an image: ignored or refused clearly
        expect_ptft_error(lambda: read_images(str(folder.parent)))

"""The modality-generic spine: the Batch type, the modality registry (recognising data specs, unknown kinds),
typed objective options (an option the objective does not take is an error listing those it does; the
bundle records the resolved values), bundles written before the redesign, and the layout rules of the code
(no modality branches outside the modality files, short functions, a thin API)."""

from __future__ import annotations

import ast
import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import ptft
from ptft import cli
from ptft.api import Pretrainer
from ptft.data.batch import Batch
from ptft.data.types import ImageSet, TextSet
from ptft.errors import ConfigError, DataError
from ptft.modalities import MODALITIES, modality_for, modality_of
from ptft.objectives.registry import option_defaults
from tests.conftest import synthetic_images, synthetic_texts

SRC = Path(ptft.__file__).parent
FIXTURES = Path(__file__).parent / "fixtures"


# ---- Batch ----


def test_batch_selects_concatenates_moves_and_counts() -> None:
    ids = torch.tensor([[2, 5, 6, 3, 0], [2, 7, 3, 0, 0], [2, 8, 9, 4, 3]])
    batch = Batch({"x": ids}, ids == 0)
    assert len(batch) == 3 and batch.lengths.tolist() == [4, 3, 5]  # type: ignore[union-attr]
    part = batch.rows(torch.tensor([2, 0]))
    assert (
        part.x.tolist() == [ids[2].tolist(), ids[0].tolist()] and part.pad_mask.tolist() == (ids[[2, 0]] == 0).tolist()
    )  # type: ignore[union-attr]
    both = Batch.cat([part, batch.rows(torch.tensor([1]))])
    assert both.x.tolist() == ids[[2, 0, 1]].tolist() and both.lengths.tolist() == [5, 4, 3]  # type: ignore[union-attr]
    assert batch.to("cpu").x is not None and "x of shape (5,) int64" in batch.describe()
    images = Batch.of(torch.zeros(4, 1, 8, 8))
    assert images.lengths is None and images.to("cpu", channels_last=True).x.is_contiguous(
        memory_format=torch.channels_last
    )
    two = Batch({"numeric": torch.zeros(3, 2), "categorical": torch.zeros(3, 4, dtype=torch.long)})
    assert len(two.rows(torch.tensor([0, 2]))) == 2 and two["categorical"].dtype == torch.long
    with pytest.raises(ValueError, match="one row per example"):
        Batch({"a": torch.zeros(3), "b": torch.zeros(4)})
    with pytest.raises(KeyError, match="holds numeric, categorical, not 'x'"):
        _ = two.x


# ---- the modality registry ----


def test_each_kind_of_data_spec_is_claimed_by_its_modality(tmp_path: Path) -> None:
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "a.txt").write_text("one\n")
    (tmp_path / "images").mkdir()
    (tmp_path / "list.csv").write_text("path,label\na.png,cat\n")
    (tmp_path / "texts.csv").write_text("text,label\nhello,greeting\n")
    expected = {
        "fashion-mnist": "image", "fashion-mnist:test": "image", "digits": "image", "wordnet-supersenses": "text",
        str(tmp_path / "texts"): "text", str(tmp_path / "images"): "image", str(tmp_path / "list.csv"): "image",
        str(tmp_path / "texts.csv"): "text", str(tmp_path / "d.npz"): "image", str(tmp_path / "d.npy"): "image",
        str(tmp_path / "t10k-images-idx3-ubyte.gz"): "image", str(tmp_path / "c.jsonl"): "text",
        str(tmp_path / "c.txt"): "text", str(tmp_path / "c.parquet"): "text", str(tmp_path / "c.tsv"): "text",
    }  # fmt: skip
    assert {spec: modality_for(spec).name for spec in expected} == expected
    assert modality_of(synthetic_images(4)).name == "image" and modality_of(synthetic_texts(4)).name == "text"


def test_data_nobody_reads_is_an_error_listing_the_known_kinds(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nowhere does not exist; give image: .*\.npz.*; text: .*\.jsonl.*built-in"):
        modality_for(str(tmp_path / "nowhere"))
    odd = tmp_path / "notes.xyz"
    odd.write_text("?")
    with pytest.raises(DataError, match=r"notes.xyz is no kind of data ptft reads; give image: .*; text: "):
        modality_for(str(odd))
    with pytest.raises(ConfigError, match="unknown modality 'audio'; available: image, table, text"):
        MODALITIES.get("audio")


def test_a_model_refuses_data_of_another_modality(tmp_path: Path, tiny: dict[str, Any]) -> None:
    run = tmp_path / "run"
    Pretrainer(out=str(run), steps=1, encoder="mlp", **tiny).fit(synthetic_images(16))
    with pytest.raises(DataError, match="is text data, but this model was trained on image; give image data"):
        ptft.load(run).embed(synthetic_texts(4))


# ---- typed objective options ----


def test_an_option_the_objective_does_not_take_is_an_error_listing_its_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    code = cli.main(["pretrain", "--objective", "simclr", "--mask-ratio", "0.5", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "--mask-ratio do not apply to objective 'simclr'" in err
    assert "--temperature (default 0.2)" in err and "--projection-dim (default 128)" in err and "Traceback" not in err
    assert not out.exists()  # refused before any data was read or folder made
    with pytest.raises(ConfigError, match="--temperature do not apply to objective 'mlm'; its options: --mask-ratio"):
        Pretrainer(objective="mlm", temperature=0.1)


OPTION_CASES = [
    ("mae", {}, {"mask_ratio": 0.6}),
    ("mae", {"mask_ratio": 0.4}, {"mask_ratio": 0.4}),
    ("simclr", {"temperature": 0.5}, {"temperature": 0.5, "projection_dim": 128}),
    ("byol", {"momentum": 0.9}, {"momentum": 0.9, "projection_dim": 128}),
]


@pytest.mark.parametrize(("objective", "given", "recorded"), OPTION_CASES)
def test_the_bundle_records_the_options_the_objective_used(
    objective: str, given: dict[str, float], recorded: dict[str, float], tmp_path: Path, tiny: dict[str, Any]
) -> None:
    run = tmp_path / "run"
    Pretrainer(out=str(run), steps=1, encoder="mlp", objective=objective, **given, **tiny).fit(synthetic_images(16))
    meta = json.loads((run / "ptft.json").read_text())
    assert meta["objective"] == objective and meta["objective_options"] == recorded
    assert option_defaults(objective).keys() == recorded.keys()


def test_text_objective_options_are_recorded_and_auto_picks_the_modality_default(
    tmp_path: Path, tiny: dict[str, Any]
) -> None:
    run = tmp_path / "run"
    Pretrainer(out=str(run), steps=1, vocab_size=120, max_length=16, mask_ratio=0.3, **tiny).fit(synthetic_texts(32))
    meta = json.loads((run / "ptft.json").read_text())
    assert (meta["objective"], meta["objective_options"], meta["encoder"]["name"]) == (
        "mlm",
        {"mask_ratio": 0.3},
        "transformer",
    )


# ---- bundles written before the redesign ----


@pytest.mark.parametrize("kind", ["image", "text"])
def test_a_bundle_written_before_the_redesign_loads_and_predicts_identically(kind: str, tmp_path: Path) -> None:
    """tests/fixtures/bundle-v0-*: fine-tuned by the code before the modality registry (commit 698c3c9), with
    the probabilities it predicted for 16 fresh examples."""
    run = tmp_path / "old"
    shutil.copytree(FIXTURES / f"bundle-v0-{kind}", run)
    expected = np.array(json.loads((FIXTURES / "bundle-v0-expected.json").read_text())[kind])
    data = synthetic_images(16, seed=5) if kind == "image" else synthetic_texts(16, seed=5)
    model = ptft.load(run)
    assert model.modality.name == kind and "objective_options" not in model.meta
    np.testing.assert_allclose(model.predict_proba(data), expected, atol=2e-6)


# ---- the layout rules of the code ----

MODALITY_BRANCH = re.compile(
    r"isinstance\([^)]*(ImageSet|TextSet|TextPipeline|ImageNormalizer)|modality *==|is_floating_point\(\)"
)


# train/average.py tells the floating-point entries of a state dict (weights, norm statistics) from its integer
# counters, which it copies rather than averages: a dtype test on the model's state, not on the data's modality
NOT_A_MODALITY_BRANCH = {Path("train/average.py")}


def test_only_the_modality_files_branch_on_a_modality() -> None:
    found = [
        f"{path.relative_to(SRC)}:{number}: {line.strip()}"
        for path in SRC.rglob("*.py")
        if "modalities" not in path.parts and path.relative_to(SRC) not in NOT_A_MODALITY_BRANCH
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if MODALITY_BRANCH.search(line)
    ]
    assert not found, "\n".join(found)


def test_functions_are_short_and_the_api_is_thin() -> None:
    long = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                limit = 120 if (path.name, node.name) == ("loop.py", "train") else 60
                if length > limit:
                    long.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name}: {length} lines (limit {limit})")
    assert not long, "\n".join(long)
    assert len((SRC / "api.py").read_text().splitlines()) <= 300


def test_images_and_texts_are_examples_with_one_base() -> None:
    images, texts = synthetic_images(8), synthetic_texts(8)
    for examples in (images, texts):
        part = examples.subset(np.array([1, 3]))
        assert (
            len(part) == 2
            and part.ids == [examples.ids[1], examples.ids[3]]
            and part.label_names == examples.label_names
        )
        assert part.fingerprint() != examples.fingerprint() and type(part) is type(examples)
    assert isinstance(images, ImageSet) and isinstance(texts, TextSet)


def test_every_objective_option_is_a_pretrain_option_and_help_shows_each_objectives_default(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from ptft.config import OBJECTIVE_OPTIONS, PretrainConfig, flat_fields
    from ptft.objectives import OBJECTIVES

    declared = {key for name in OBJECTIVES.names() for key in option_defaults(name)}
    assert declared == set(OBJECTIVE_OPTIONS) and set(OBJECTIVE_OPTIONS) <= set(flat_fields(PretrainConfig))
    with pytest.raises(SystemExit):
        cli.main(["pretrain", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "(default: electra 0.15, mae 0.6, masked-cells 0.3, mlm 0.15, scarf 0.6, simcse 0.1)" in shown
    assert "(default: scarf 1.0, simclr 0.2, simcse 0.05)" in shown

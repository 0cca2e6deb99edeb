"""A corpus of bad inputs, each fed to the real CLI (`ptft.cli.main`, in process): empty file and folder,
invalid UTF-8, a BOM, a ragged CSV, a 50 MB line, texts longer than the model context, unknown and
out-of-range labels, a truncated IDX file, a truncated JPEG and a zero-byte PNG.

Each either works as documented, or fails with exit code 2 and a message that names the file and the
line or record and says the fix - never a traceback. With `--skip-bad N` the bad records are skipped,
counted in the bundle's ptft.json "data" report and summed up in one printed line; one bad record more
than N fails with the message that says so.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from ptft import cli
from tests.conftest import synthetic_images, synthetic_texts

SMALL = ["--dim", "16", "--depth", "2", "--heads", "2", "--batch-size", "8", "--no-progress", "--precision", "fp32"]
TINY = [*SMALL, "--steps", "1"]
TEXT = ["--vocab-size", "120", "--max-length", "16"]
FEW_LABELS = ["--labels-per-class", "2", "--val-per-class", "1"]
GOOD_LINES = [text.encode() for text in synthetic_texts(24, labelled=False).texts]


# ---- writing the inputs ----


def lines_file(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def with_bad_utf8(path: Path, bad: int) -> Path:
    """Good lines, with `bad` of them (lines 2, 4, ...) holding an undecodable byte."""
    lines = list(GOOD_LINES)
    for k in range(bad):
        lines[1 + 2 * k] = b"broken \xff\xfe line " + str(k).encode()
    return lines_file(path, lines)


def ragged_csv(path: Path, bad: int) -> Path:
    """A text,label CSV whose rows 3, 5, ... have a third field."""
    texts = synthetic_texts(24)
    rows = [b"text,label"]
    for i, (text, label) in enumerate(zip(texts.texts, texts.labels if texts.labels is not None else [])):
        extra = b",surplus" if 0 < i <= 2 * bad and i % 2 == 1 else b""
        rows.append(text.encode() + b"," + texts.label_names[int(label)].encode() + extra)
    return lines_file(path, rows)


def write_png(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def image_folder(root: Path, truncated_jpeg: bool = False, empty_png: bool = False) -> Path:
    """Two classes of 6 16x16 gray PNGs each, plus, on request, a truncated JPEG and a zero-byte PNG."""
    images = synthetic_images(12, size=16)
    assert images.labels is not None
    for i, (pixels, label) in enumerate(zip(images.images, images.labels)):
        write_png(root / ("top" if label < 2 else "bottom") / f"{i:02d}.png", pixels[0])
    if truncated_jpeg:
        Image.fromarray(images.images[0, 0]).save(root / "top" / "cut.jpg", quality=95)
        whole = (root / "top" / "cut.jpg").read_bytes()
        (root / "top" / "cut.jpg").write_bytes(whole[: len(whole) // 2])
    if empty_png:
        (root / "bottom" / "empty.png").write_bytes(b"")
    return root


def npz_file(path: Path, labels: list[int], names: list[str]) -> Path:
    images = synthetic_images(len(labels), size=16).images
    np.savez(path, images=images, labels=np.array(labels), label_names=np.array(names))
    return path


def idx_pair(folder: Path, cut_labels: bool) -> Path:
    """train-images-idx3-ubyte and train-labels-idx1-ubyte; the labels file cut short on request."""
    images = synthetic_images(8, size=16)
    assert images.labels is not None
    header = bytes([0, 0, 0x08, 3]) + np.array([8, 16, 16], ">u4").tobytes()
    (folder / "train-images-idx3-ubyte").write_bytes(header + images.images.tobytes())
    labels = bytes([0, 0, 0x08, 1]) + np.array([8], ">u4").tobytes() + images.labels.astype(np.uint8).tobytes()
    (folder / "train-labels-idx1-ubyte").write_bytes(labels[:-3] if cut_labels else labels)
    return folder / "train-images-idx3-ubyte"


# ---- running the CLI ----


@dataclass
class Outcome:
    code: int
    out: str
    err: str
    run: Path
    data: dict[str, Any] = field(default_factory=dict)  # the bundle's "data" report, when one was written
    metrics: dict[str, Any] = field(default_factory=dict)


def run_cli(argv: list[str], run: Path, capsys: pytest.CaptureFixture[str]) -> Outcome:
    with warnings.catch_warnings():  # the readers warn about the lines they skip: not what is checked here
        warnings.simplefilter("ignore", UserWarning)
        code = cli.main(argv)
    captured = capsys.readouterr()
    outcome = Outcome(code, captured.out, captured.err, run)
    if (run / "ptft.json").is_file():
        meta = json.loads((run / "ptft.json").read_text())
        outcome.data, outcome.metrics = meta["data"], meta["metrics"]
    assert "Traceback" not in captured.err
    return outcome


def pretrain(data: Path, run: Path, *extra: str) -> list[str]:
    return ["pretrain", "--data", str(data), "--out", str(run), *TINY, *TEXT, *extra]


def finetune(data: Path, run: Path, *extra: str) -> list[str]:
    return ["finetune", "--data", str(data), "--out", str(run), *TINY, *TEXT, *FEW_LABELS, *extra]


# ---- the corpus: (name, write the input and say the command) -> what must happen ----


@dataclass(frozen=True)
class Case:
    """`make(tmp_path)` writes the input and returns (argv, run folder). `errors`: substrings of the error
    (file, line/record, fix; `{data}` is the input path); empty when the run must succeed."""

    make: Callable[[Path], tuple[list[str], Path, Path]]
    errors: tuple[str, ...] = ()


def _case(kind: str, write: Callable[[Path], Path], *extra: str) -> Callable[[Path], tuple[list[str], Path, Path]]:
    def make(tmp_path: Path) -> tuple[list[str], Path, Path]:
        data, run = write(tmp_path), tmp_path / "run"
        return (pretrain if kind == "pretrain" else finetune)(data, run, *extra), run, data

    return make


def _empty_folder(tmp_path: Path) -> Path:
    (tmp_path / "empty").mkdir()
    return tmp_path / "empty"


def _bom_csv(tmp_path: Path) -> Path:
    path = ragged_csv(tmp_path / "bom.csv", bad=0)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    return path


CASES: dict[str, Case] = {
    "empty file": Case(
        _case("pretrain", lambda t: _touch(t / "empty.txt")),
        ("{data}: holds no texts", "give a file with one example per line"),
    ),
    "empty folder": Case(
        _case("pretrain", _empty_folder),
        ("{data}: no .png/.jpg/.jpeg images found", "put the images in it", ".txt files for text"),
    ),
    "invalid UTF-8": Case(
        _case("pretrain", lambda t: with_bad_utf8(t / "bad.txt", bad=1)),
        ("{data}:2: invalid UTF-8 byte", "re-encode the file as UTF-8", "--skip-bad N"),
    ),
    "invalid JSON line": Case(
        _case("pretrain", lambda t: lines_file(t / "d.jsonl", [b'{"text": "fine words"}', b'{"text": broken'])),
        ("{data}:2: not valid JSON", "one JSON object per line", "--skip-bad N"),
    ),
    "ragged CSV": Case(
        _case("finetune", lambda t: ragged_csv(t / "ragged.csv", bad=1)),
        ("{data}:3: 3 fields, the header has 2", "quote fields that contain the separator", "--skip-bad N"),
    ),
    "UTF-8 with BOM (works)": Case(_case("finetune", _bom_csv)),
    "text longer than the context (works, truncated and counted)": Case(
        _case("finetune", lambda t: _long_texts(t / "long.csv")),
    ),
    "npz labels beyond the label names": Case(
        _case("finetune", lambda t: npz_file(t / "d.npz", [0, 1, 0, 1, 0, 1, 2, 3], ["a", "b"])),
        ("{data} ['labels']: record 6 has label 2, which has no name", "pass one name per class"),
    ),
    "npz label below -1": Case(
        _case("finetune", lambda t: npz_file(t / "d.npz", [0, 1, -2, 1], ["a", "b"])),
        ("{data} ['labels']: record 2 has label -2, below -1", "use class indices 0, 1, ... or -1"),
    ),
    "IDX labels cut short": Case(
        _case("finetune", lambda t: idx_pair(t, cut_labels=True)),
        ("train-labels-idx1-ubyte: header says shape (8,)", "truncated or damaged", "fetch it again"),
    ),
    "truncated JPEG": Case(
        _case("finetune", lambda t: image_folder(t / "images", truncated_jpeg=True)),
        ("cut.jpg: not a readable image", "replace or remove it", "--skip-bad N"),
    ),
    "zero-byte PNG": Case(
        _case("pretrain", lambda t: image_folder(t / "images", empty_png=True)),
        ("empty.png: not a readable image", "replace or remove it", "--skip-bad N"),
    ),
}


def _touch(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def _long_texts(path: Path) -> Path:
    """A labelled CSV whose every text is ~60 words: far beyond --max-length 16 tokens."""
    texts = synthetic_texts(24)
    assert texts.labels is not None
    rows = ["text,label"] + [
        f"{(text + ' ') * 8},{texts.label_names[int(label)]}" for text, label in zip(texts.texts, texts.labels)
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_works_or_fails_with_file_line_and_fix(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = CASES[name]
    argv, run, data = case.make(tmp_path)
    outcome = run_cli(argv, run, capsys)
    if not case.errors:
        assert outcome.code == 0, outcome.err
        assert outcome.data["n"] > 0 and "skipped" not in outcome.data  # nothing was bad
        if "truncated" in name:
            assert outcome.metrics["truncated"] == outcome.data["n"]  # every text is cut, none is an error
        return
    assert outcome.code == 2, outcome.out
    assert outcome.err.startswith("ptft: error: ")
    for part in case.errors:
        assert part.format(data=data) in outcome.err, (part, outcome.err)
    assert not run.exists()  # inputs are checked before --out is touched


# ---- --skip-bad N: skipped and counted up to N, one more fails ----


SKIPPABLE: dict[str, tuple[str, Callable[[Path, int], Path], str]] = {
    # name: (command, write `bad` bad records, a substring of each skipped place)
    "invalid UTF-8": ("pretrain", lambda t, bad: with_bad_utf8(t / "bad.txt", bad), "invalid UTF-8"),
    "ragged CSV": ("finetune", lambda t, bad: ragged_csv(t / "ragged.csv", bad), "3 fields, the header has 2"),
    "unreadable images": (
        "finetune",
        lambda t, bad: image_folder(t / "images", truncated_jpeg=bad >= 1, empty_png=bad >= 2),
        "not a readable image",
    ),
}


@pytest.mark.parametrize("name", list(SKIPPABLE))
def test_skip_bad_skips_counts_and_reports(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    command, write, reason = SKIPPABLE[name]
    data, run = write(tmp_path, 2), tmp_path / "run"
    argv = (pretrain if command == "pretrain" else finetune)(data, run, "--skip-bad", "3")
    outcome = run_cli(argv, run, capsys)
    assert outcome.code == 0, outcome.err
    assert outcome.data["skipped"] == 2 and len(outcome.data["skipped_at"]) == 2
    assert all(reason in place and str(data) in place for place in outcome.data["skipped_at"])
    first = outcome.data["skipped_at"][0]
    assert f"ptft: note: skipped 2 bad record(s) of {data} (--skip-bad), first: {first}" in outcome.err


@pytest.mark.parametrize("name", list(SKIPPABLE))
def test_more_bad_records_than_skip_bad_fails_naming_the_next_one(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    command, write, reason = SKIPPABLE[name]
    data, run = write(tmp_path, 2), tmp_path / "run"
    argv = (pretrain if command == "pretrain" else finetune)(data, run, "--skip-bad", "1")
    outcome = run_cli(argv, run, capsys)
    assert outcome.code == 2 and reason in outcome.err and str(data) in outcome.err
    assert "1 bad records were already skipped, the most --skip-bad 1 allows (first: " in outcome.err
    assert outcome.err.rstrip().endswith("fix the data, or raise --skip-bad")
    assert not run.exists()


def test_a_50_mb_line_runs_quickly_cut_to_the_context(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    big = tmp_path / "big.txt"
    with open(big, "wb") as fh:
        fh.write(b"\n".join(GOOD_LINES[:8]) + b"\n")
        fh.write(b"word " * 10_000_000 + b"\n")  # 50 MB on one line
    start = time.perf_counter()
    outcome = run_cli(pretrain(big, tmp_path / "run"), tmp_path / "run", capsys)
    assert outcome.code == 0, outcome.err
    assert outcome.data["cut_to_max_chars"] == 1 and outcome.data["n"] == 9
    assert time.perf_counter() - start < 30  # texts are cut at max_length x 100 characters before any work


# ---- evaluating with labels the model does not know ----


@pytest.fixture(scope="module")
def text_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("text-model")
    data = ragged_csv(folder / "train.csv", bad=0)
    assert cli.main(finetune(data, folder / "run")) == 0
    return folder / "run"


def test_unknown_label_at_evaluation_names_the_line(
    text_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other.csv"
    other.write_text("text,label\na cat and a dog,animal\nan otter swims,animals\n", encoding="utf-8")
    outcome = run_cli(["evaluate", str(text_model), "--data", str(other)], tmp_path / "none", capsys)
    assert outcome.code == 2
    assert "label 'animals' is not among the 4 labels" in outcome.err and "did you mean 'animal'" in outcome.err
    assert f"first {other}:3" in outcome.err and "relabel those examples or leave them out" in outcome.err


def test_evaluate_and_predict_take_their_own_skip_bad(
    text_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The budget is the command's own (the model's training budget does not carry over); skipped records are
    in the evaluation report and announced by predict, whose CSV then has no row for them."""
    data = ragged_csv(tmp_path / "test.csv", bad=2)
    stop = run_cli(["evaluate", str(text_model), "--data", str(data)], tmp_path / "none", capsys)
    assert stop.code == 2 and f"{data}:3: 3 fields, the header has 2" in stop.err

    report = tmp_path / "eval.json"
    argv = ["evaluate", str(text_model), "--data", str(data), "--skip-bad", "2", "--out", str(report)]
    evaluated = run_cli(argv, tmp_path / "none", capsys)
    assert evaluated.code == 0 and f"ptft: note: skipped 2 bad record(s) of {data} (--skip-bad)" in evaluated.err
    result = json.loads(report.read_text())
    assert result["n"] == 22 and result["data"]["skipped"] == 2 and f"{data}:3" in result["data"]["skipped_at"][0]

    out = tmp_path / "predictions.csv"
    argv = ["predict", str(text_model), "--data", str(data), "--skip-bad", "2", "--out", str(out)]
    predicted = run_cli(argv, tmp_path / "none", capsys)
    assert predicted.code == 0 and f"so they have no row in {out}" in predicted.out
    assert len(out.read_text().splitlines()) == 1 + 22


def test_out_of_range_label_at_evaluation_names_the_record(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = npz_file(tmp_path / "train.npz", [0, 1] * 4, ["a", "b"])
    assert cli.main(["finetune", "--data", str(data), "--out", str(tmp_path / "run"), *TINY, *FEW_LABELS]) == 0
    other = npz_file(tmp_path / "other.npz", [0, 1, 2], ["a", "b", "c"])
    outcome = run_cli(["evaluate", str(tmp_path / "run"), "--data", str(other)], tmp_path / "none", capsys)
    assert outcome.code == 2 and "label 'c' is not among the 2 labels" in outcome.err
    assert f"first {other}#2" in outcome.err


# ---- the option itself ----


@pytest.mark.parametrize(
    ("value", "message"),
    [([], "argument --skip-bad: expected one argument"), (["-1"], "not negative"), (["yes"], "expected int")],
)
def test_skip_bad_needs_a_count(value: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["pretrain", "--data", "corpus.txt", *SMALL, "--skip-bad", *value]
    try:
        code = cli.main(argv)
    except SystemExit as stop:  # argparse's usage error
        code = int(stop.code or 0)
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err


def test_data_inspect_and_clean_report_the_skipped_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = with_bad_utf8(tmp_path / "bad.txt", bad=2)
    outcome = run_cli(["data", "inspect", str(bad)], tmp_path / "none", capsys)
    assert outcome.code == 2 and f"{bad}:2: invalid UTF-8" in outcome.err
    outcome = run_cli(["data", "inspect", str(bad), "--skip-bad", "2", "--no-near"], tmp_path / "none", capsys)
    assert outcome.code == 0 and "2 skipped (--skip-bad)" in outcome.out and f"e.g. {bad}:4:" in outcome.out
    out = tmp_path / "clean.txt"
    outcome = run_cli(["data", "clean", str(bad), "--out", str(out), "--skip-bad", "2"], tmp_path / "none", capsys)
    assert outcome.code == 0 and f"skipped 2 bad line(s) (--skip-bad), first: {bad}:2:" in outcome.out
    assert len(out.read_text(encoding="utf-8").splitlines()) == len(GOOD_LINES) - 2


def test_skips_in_data_prepare_reach_the_bundles_pre_trained_from_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = with_bad_utf8(tmp_path / "corpus.txt", bad=2)
    shards = tmp_path / "shards"
    prepared = run_cli(["data", "prepare", str(data), "--out", str(shards), *TEXT, "--skip-bad", "2"], shards, capsys)
    assert prepared.code == 0 and "skipped 2 bad line(s) (--skip-bad)" in prepared.out
    assert json.loads((shards / "index.json").read_text())["skipped"] == 2
    run = tmp_path / "pre"
    outcome = run_cli(["pretrain", "--data", str(shards), "--out", str(run), *TINY], run, capsys)
    assert outcome.code == 0 and outcome.data["skipped"] == 2
    assert all(f"{data}:" in place and "invalid UTF-8" in place for place in outcome.data["skipped_at"])
    assert f"ptft: note: skipped 2 bad record(s) of {shards} (--skip-bad)" in outcome.err


def test_stage_steps_must_give_every_stage_a_step(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ptft.config import FinetuneConfig
    from ptft.errors import ConfigError

    with pytest.raises(ConfigError, match="at least one step per stage"):
        FinetuneConfig(stage_steps=(3, 0))
    data = npz_file(tmp_path / "train.npz", [0, 1] * 4, ["a", "b"])
    argv = ["finetune", "--data", str(data), "--out", str(tmp_path / "run"), "--strategy", "lp-ft",
            "--stage-steps", "1,2,3", *TINY, *FEW_LABELS]  # fmt: skip
    outcome = run_cli(argv, tmp_path / "run", capsys)
    assert outcome.code != 0 and "Traceback" not in outcome.err
    assert "gives 3 stage(s), and strategy 'lp-ft' has 2 (linear-probe, fine-tune)" in outcome.err

"""Token shards (`ptft data prepare`): write/read round trip across shard boundaries and a partial last
shard, uint16 vs uint32, resuming an interrupted preparation, reading rows on demand, pre-training from
a prepared folder; the fast encoding (cleaning a batch at once, cached word ids for ASCII, worker
processes) gives exactly the ids of the per-text cleaning and the `tokenizers` pipeline (Hypothesis)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer

from ptft import cli
from ptft.api import Pretrainer
from ptft.config import DataConfig
from ptft.errors import DataError, PtftError
from ptft.preprocess import TextPipeline, TextTokenizer
from ptft.preprocess import shards as shards_module
from ptft.preprocess.pipeline import CHARS_PER_TOKEN_BOUND
from ptft.preprocess.shards import INDEX, PROGRESS, TokenShards, prepare_shards, token_dtype
from tests.conftest import fit_text_pipeline, synthetic_texts

TEXTS = synthetic_texts(23).texts


@pytest.fixture(scope="module")
def pipeline() -> TextPipeline:
    fitted = fit_text_pipeline(synthetic_texts(60), DataConfig(vocab_size=120, max_length=12))
    assert isinstance(fitted, TextPipeline)
    return fitted


def expected_rows(pipeline: TextPipeline, texts: list[str]) -> list[list[int]]:
    ids = pipeline.transform(texts)
    return [row[row != pipeline.pad_id].tolist() for row in ids]


def test_round_trip_over_shard_boundaries(pipeline: TextPipeline, tmp_path: Path) -> None:
    report = prepare_shards(TEXTS, tmp_path / "c", pipeline, texts_per_shard=10, batch_size=4)
    assert (report.texts, report.shards) == (23, 3)  # 10 + 10 + 3: the last shard is partial
    shards = TokenShards(tmp_path / "c")
    want = expected_rows(pipeline, TEXTS)
    assert len(shards) == 23 and shards.lengths.tolist() == [len(r) for r in want]
    assert [row.tolist() for row in shards] == want
    batch = shards[torch.tensor([22, 0, 10, 9])].x  # rows from three shards, right-padded
    for r, i in enumerate([22, 0, 10, 9]):
        assert batch[r, : len(want[i])].tolist() == want[i]
        assert (batch[r, len(want[i]) :] == pipeline.pad_id).all()
    assert shards.lengths.dtype == torch.int32  # the one per-text array held; rows are read when needed
    assert json.loads((tmp_path / "c" / INDEX).read_text())["dtype"] == "uint16"
    assert not (tmp_path / "c" / PROGRESS).exists()
    with pytest.raises(DataError, match="already holds a prepared corpus"):
        prepare_shards(TEXTS, tmp_path / "c", pipeline)


def test_wide_vocabularies_use_uint32(pipeline: TextPipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert token_dtype(65536) == np.uint16 and token_dtype(65537) == np.uint32
    monkeypatch.setattr(pipeline.tokenizer, "vocab_size_", 70_000)
    prepare_shards(TEXTS[:5], tmp_path / "w", pipeline)
    assert json.loads((tmp_path / "w" / INDEX).read_text())["dtype"] == "uint32"
    assert [row.tolist() for row in TokenShards(tmp_path / "w")] == expected_rows(pipeline, TEXTS[:5])


def test_damaged_offsets_are_a_data_error(pipeline: TextPipeline, tmp_path: Path) -> None:
    prepare_shards(TEXTS, tmp_path / "c", pipeline, texts_per_shard=10, batch_size=4)
    idx = tmp_path / "c" / "shard-00001.idx"
    offsets = np.fromfile(idx, dtype=np.int64)
    offsets[[3, 4]] = offsets[[4, 3]]  # same size, same end: only the order is wrong
    offsets.tofile(idx)
    with pytest.raises(DataError, match="shard-00001: sizes do not match"):
        TokenShards(tmp_path / "c")


@pytest.mark.parametrize("workers", [1, 2])
def test_an_interrupted_preparation_resumes_to_the_same_result(
    pipeline: TextPipeline, tmp_path: Path, workers: int
) -> None:
    def dies_after(n: int) -> Iterator[str]:
        for i, text in enumerate(TEXTS):
            if i == n:
                raise KeyboardInterrupt  # as if killed mid-shard
            yield text

    with pytest.raises(KeyboardInterrupt):
        prepare_shards(dies_after(15), tmp_path / "r", pipeline, texts_per_shard=10, batch_size=4, workers=workers)
    assert (tmp_path / "r" / PROGRESS).is_file() and not (tmp_path / "r" / INDEX).exists()
    with pytest.raises(DataError, match="preparation did not finish"):
        TokenShards(tmp_path / "r")
    (tmp_path / "r" / "shard-00001.bin.tmp").write_bytes(b"half")  # debris of the killed shard
    prepare_shards(TEXTS, tmp_path / "r", pipeline, texts_per_shard=10, batch_size=4, workers=workers)
    prepare_shards(TEXTS, tmp_path / "whole", pipeline, texts_per_shard=10, batch_size=4, workers=1)
    for name in ("shard-00000.bin", "shard-00001.bin", "shard-00002.bin", "shard-00002.idx"):
        assert (tmp_path / "r" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes()
    assert not list((tmp_path / "r").glob("*.tmp"))


def _dies(batch: list[str]) -> None:
    os._exit(1)  # as a worker killed for lack of memory


def test_a_dying_worker_is_an_error_that_says_how_to_resume(
    pipeline: TextPipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shards_module, "_encode_in_worker", _dies)
    with pytest.raises(PtftError, match="run the same command again to resume"):
        prepare_shards(TEXTS, tmp_path / "d", pipeline, texts_per_shard=10, batch_size=4, workers=2)


def test_pretrain_streams_from_a_prepared_folder_via_cli(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(synthetic_texts(80).texts) + "\n", encoding="utf-8")
    folder = tmp_path / "prepared"
    argv = ["data", "prepare", str(corpus), "--out", str(folder), "--vocab-size", "120", "--max-length", "16"]
    assert cli.main([*argv, "--texts-per-shard", "30"]) == 0
    assert len(TokenShards(folder)) == 80
    one_worker = tmp_path / "one-worker"
    assert cli.main([*argv[:4], str(one_worker), *argv[5:], "--texts-per-shard", "30", "--workers", "1"]) == 0
    assert [f.read_bytes() for f in sorted(folder.glob("shard-*"))] == [
        f.read_bytes() for f in sorted(one_worker.glob("shard-*"))
    ]
    assert cli.main([*argv[:4], str(tmp_path / "x"), *argv[5:], "--workers", "-1"]) == 2  # a ConfigError
    trainer = Pretrainer(data=str(folder), out=str(tmp_path / "pre"), steps=3, dim=16, depth=1, heads=2,
                         batch_size=8, progress=False, precision="fp32").fit()  # fmt: skip
    meta = json.loads((trainer.run_dir / "ptft.json").read_text())
    assert meta["objective"] == "mlm" and meta["data"]["prepared"] is True and meta["data"]["n"] == 80
    assert meta["preprocessor"] == json.loads((folder / "preprocessor.json").read_text())


# ---- the fast encoding equals the reference: per-text cleaning, then the `tokenizers` pipeline ----


def reference_ids(pipeline: TextPipeline, texts: list[str]) -> list[list[int]]:
    limit = pipeline.tokenizer.max_length * CHARS_PER_TOKEN_BOUND
    ids, pad_mask = pipeline.tokenizer.transform([pipeline.clean(text[:limit]) for text in texts])
    return [row[~mask].tolist() for row, mask in zip(ids, pad_mask)]


def variant(pipeline: TextPipeline, normalizer: dict) -> TextPipeline:
    """The fitted pipeline with another normalizer in its tokenizer.json (as a pre-trained one may have)."""
    config = json.loads(pipeline.tokenizer.tokenizer_.to_str())
    config["normalizer"] = normalizer
    tokenizer = TextTokenizer._pretrained(Tokenizer.from_str(json.dumps(config)), pipeline.tokenizer.max_length)
    return TextPipeline(tokenizer, pipeline.clean_steps)


BERT_NORMALIZER = {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True, "strip_accents": None,
                   "lowercase": True}  # fmt: skip
KINDS = ["wordpiece", "cased", "bert-base-like", "uncleaned", "unknown-normalizer", "bpe"]


@pytest.fixture(scope="module")
def pipelines() -> dict[str, TextPipeline]:
    corpus = synthetic_texts(60).texts
    wordpiece = TextPipeline(TextTokenizer("wordpiece", vocab_size=150, max_length=10)).fit(corpus)
    return {
        "wordpiece": wordpiece,
        "cased": TextPipeline(TextTokenizer("wordpiece", 150, 10, lowercase=False)).fit(corpus),
        "bert-base-like": variant(wordpiece, BERT_NORMALIZER),
        "uncleaned": TextPipeline(wordpiece.tokenizer, clean_steps=[]),
        "unknown-normalizer": variant(wordpiece, {"type": "Replace", "pattern": {"String": "a"}, "content": "b"}),
        "bpe": TextPipeline(TextTokenizer("bpe", vocab_size=300, max_length=10)).fit(corpus),
    }


WORD = st.text("abcdefghijklmnopqrstuvwxyzABCXYZ0123456789", min_size=1, max_size=12)
ODD = st.sampled_from(["[MASK]", "[CLS]", "[mask]", "x" * 120, "...", "(42)", "don't", "\t", "  ", "é", "中文", "\x00"])
TEXT = st.lists(WORD | st.sampled_from(list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")) | ODD, max_size=14).map(" ".join)


@pytest.mark.parametrize("name", KINDS)
@settings(max_examples=60, derandomize=True, deadline=None)
@given(texts=st.lists(TEXT | st.text(max_size=20), max_size=10))
def test_encode_ids_equals_the_tokenizers_pipeline(
    pipelines: dict[str, TextPipeline], name: str, texts: list[str]
) -> None:
    pipeline = pipelines[name]
    ids, lengths = pipeline.encode_ids(texts)
    assert ids.dtype == np.int64 and lengths.tolist() == [len(row) for row in reference_ids(pipeline, texts)]
    assert ids.tolist() == [i for row in reference_ids(pipeline, texts) for i in row]
    assert pipeline.encode(texts) == reference_ids(pipeline, texts)


def test_the_ascii_shortcut_is_taken_only_for_known_tokenizers(pipelines: dict[str, TextPipeline]) -> None:
    from ptft.preprocess.text import _AsciiWordPiece

    taken = {name: _AsciiWordPiece.for_tokenizer(p.tokenizer) is not None for name, p in pipelines.items()}
    assert taken == {"wordpiece": True, "cased": True, "bert-base-like": True, "uncleaned": True,
                     "unknown-normalizer": False, "bpe": False}  # fmt: skip
    assert _AsciiWordPiece.for_tokenizer(pipelines["cased"].tokenizer).lowercase is False  # type: ignore[union-attr]


@pytest.mark.parametrize("workers", [1, 2])
def test_prepared_shards_hold_the_reference_ids(pipeline: TextPipeline, tmp_path: Path, workers: int) -> None:
    texts = [*TEXTS, "Ünïcödé  text\twith [MASK] inside", "  ", "x" * 5000, "中文 and ascii", "[CLS] first"] * 3
    prepare_shards(texts, tmp_path / "p", pipeline, texts_per_shard=20, batch_size=7, workers=workers)
    assert [row.tolist() for row in TokenShards(tmp_path / "p")] == reference_ids(pipeline, texts)

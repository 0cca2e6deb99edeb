"""Token shards (`ptft data prepare`): write/read round trip across shard boundaries and a partial last
shard, uint16 vs uint32, resuming an interrupted preparation, memory-mapped reading, pre-training from
a prepared folder."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from ptft import cli
from ptft.api import Pretrainer
from ptft.config import TextConfig
from ptft.data.shards import INDEX, PROGRESS, TokenShards, prepare_shards, token_dtype
from ptft.errors import DataError
from ptft.preprocess import TextPipeline
from tests.conftest import synthetic_texts

TEXTS = synthetic_texts(23).texts


@pytest.fixture(scope="module")
def pipeline() -> TextPipeline:
    import ptft.api

    fitted = ptft.api._fit_preprocessor(synthetic_texts(60), TextConfig(vocab_size=120, max_length=12))
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
    batch = shards[torch.tensor([22, 0, 10, 9])]  # rows from three shards, right-padded
    for r, i in enumerate([22, 0, 10, 9]):
        assert batch[r, : len(want[i])].tolist() == want[i]
        assert (batch[r, len(want[i]) :] == pipeline.pad_id).all()
    assert isinstance(shards._tokens[0], np.memmap)  # mapped, not read into memory
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


def test_an_interrupted_preparation_resumes_to_the_same_result(pipeline: TextPipeline, tmp_path: Path) -> None:
    def dies_after(n: int) -> Iterator[str]:
        for i, text in enumerate(TEXTS):
            if i == n:
                raise KeyboardInterrupt  # as if killed mid-shard
            yield text

    with pytest.raises(KeyboardInterrupt):
        prepare_shards(dies_after(15), tmp_path / "r", pipeline, texts_per_shard=10, batch_size=4)
    assert (tmp_path / "r" / PROGRESS).is_file() and not (tmp_path / "r" / INDEX).exists()
    with pytest.raises(DataError, match="preparation did not finish"):
        TokenShards(tmp_path / "r")
    (tmp_path / "r" / "shard-00001.bin.tmp").write_bytes(b"half")  # debris of the killed shard
    prepare_shards(TEXTS, tmp_path / "r", pipeline, texts_per_shard=10, batch_size=4)
    prepare_shards(TEXTS, tmp_path / "whole", pipeline, texts_per_shard=10, batch_size=4)
    for name in ("shard-00000.bin", "shard-00001.bin", "shard-00002.bin", "shard-00002.idx"):
        assert (tmp_path / "r" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes()
    assert not list((tmp_path / "r").glob("*.tmp"))


def test_pretrain_streams_from_a_prepared_folder_via_cli(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(synthetic_texts(80).texts) + "\n", encoding="utf-8")
    folder = tmp_path / "prepared"
    argv = ["data", "prepare", str(corpus), "--out", str(folder), "--vocab-size", "120", "--max-length", "16"]
    assert cli.main([*argv, "--texts-per-shard", "30"]) == 0
    assert len(TokenShards(folder)) == 80
    trainer = Pretrainer(data=str(folder), out=str(tmp_path / "pre"), steps=3, dim=16, depth=1, heads=2,
                         batch_size=8, progress=False, precision="fp32").fit()  # fmt: skip
    meta = json.loads((trainer.run_dir / "ptft.json").read_text())
    assert meta["objective"] == "mlm" and meta["data"]["prepared"] is True and meta["data"]["n"] == 80
    assert meta["preprocessor"] == json.loads((folder / "preprocessor.json").read_text())

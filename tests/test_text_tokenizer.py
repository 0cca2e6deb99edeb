"""TextTokenizer: fit/transform/state contract, CJK handling, truncation, padding and failure modes."""

from __future__ import annotations

import json
from typing import cast

import pytest
import torch

from ptft.errors import BundleError, ConfigError, DataError
from ptft.preprocess import TextPipeline, TextTokenizer, preprocessor_from_state

ENGLISH = [
    "The quick brown fox jumps over the lazy dog.",
    "Pre-training on unlabeled data helps fine-tuning with few labels!",
    "Tokenizers split words into subword units, like un ##labeled.",
    "Hello world, hello tokenizers, hello again.",
]
CHINESE = [
    "自然语言处理很有趣",
    "我喜欢学习语言模型",
    "机器学习和深度学习都很有趣",
    "今天天气很好，我们去公园处理事情",
]
CORPUS = (ENGLISH + CHINESE) * 20
KINDS = ["wordpiece", "bpe"]


@pytest.fixture(scope="module", params=KINDS)
def fitted(request: pytest.FixtureRequest) -> TextTokenizer:
    return TextTokenizer(kind=request.param, vocab_size=400, max_length=32).fit(CORPUS)


def test_fit_learns_ids_and_vocab_size(fitted: TextTokenizer) -> None:
    assert fitted.pad_id_ == 0
    assert len({fitted.pad_id_, fitted.unk_id_, fitted.cls_id_, fitted.sep_id_, fitted.mask_id_}) == 5
    assert fitted.vocab_size_ == fitted.tokenizer_.get_vocab_size()
    assert fitted.vocab_size_ <= 400


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("requested", [300, 2000])
def test_vocab_size_respected(kind: str, requested: int) -> None:
    tokenizer = TextTokenizer(kind=kind, vocab_size=requested).fit(CORPUS * 3)
    assert 0 < tokenizer.vocab_size_ <= requested
    ids, _ = tokenizer.transform(CORPUS[:8])
    assert int(ids.max()) < tokenizer.vocab_size_


def test_wordpiece_alphabet_capped_by_small_vocab() -> None:
    many_chars = ["".join(chr(0x4E00 + i + j) for j in range(10)) for i in range(0, 500, 10)]
    tokenizer = TextTokenizer(kind="wordpiece", vocab_size=64).fit(many_chars)
    assert tokenizer.vocab_size_ <= 64


def test_transform_shapes_specials_and_pad_mask(fitted: TextTokenizer) -> None:
    texts = ["hello world", "the quick brown fox jumps over the lazy dog", "自然"]
    ids, pad_mask = fitted.transform(texts)
    assert ids.dtype == torch.int64 and pad_mask.dtype == torch.bool
    assert ids.shape == pad_mask.shape and ids.shape[0] == 3
    lengths = (~pad_mask).sum(1)
    assert int(lengths.max()) == ids.shape[1]  # padded to the longest in the batch, no further
    for row, length in zip(ids, lengths.tolist()):
        assert row[0] == fitted.cls_id_ and row[length - 1] == fitted.sep_id_
        assert (row[length:] == fitted.pad_id_).all()
        assert (row[1 : length - 1] != fitted.pad_id_).all()
    # the mask is exactly "after the real tokens"
    positions = torch.arange(ids.shape[1]).unsqueeze(0)
    assert torch.equal(pad_mask, positions >= lengths.unsqueeze(1))
    assert fitted.truncated_count_ == 0


@pytest.mark.parametrize("kind", KINDS)
def test_state_round_trip_identical_ids(kind: str) -> None:
    tokenizer = TextTokenizer(kind=kind, vocab_size=400, max_length=16, lowercase=False).fit(CORPUS)
    state = tokenizer.state_dict()
    text = json.dumps(state)  # plain JSON
    assert "pickle" not in text and "\\x80" not in text
    assert state["kind"] == "text" and state["tokenizer_kind"] == kind
    again = cast(TextPipeline, preprocessor_from_state(json.loads(text), expect="text")).tokenizer
    assert isinstance(again, TextTokenizer)
    probe = ENGLISH + CHINESE + ["Unseen WORDS here, and 未见过的字 too", "x" * 200]
    ids_a, mask_a = tokenizer.transform(probe)
    ids_b, mask_b = again.transform(probe)
    assert torch.equal(ids_a, ids_b) and torch.equal(mask_a, mask_b)
    assert tokenizer.truncated_count_ == again.truncated_count_
    assert (again.vocab_size_, again.pad_id_, again.mask_id_, again.cls_id_, again.sep_id_) == (
        tokenizer.vocab_size_,
        tokenizer.pad_id_,
        tokenizer.mask_id_,
        tokenizer.cls_id_,
        tokenizer.sep_id_,
    )
    assert again.max_length == 16 and again.lowercase is False
    assert again.state_dict() == state


@pytest.mark.parametrize("kind", KINDS)
def test_chinese_encodes_to_known_tokens(kind: str) -> None:
    tokenizer = TextTokenizer(kind=kind, vocab_size=500).fit(CHINESE * 30)
    ids, pad_mask = tokenizer.transform(["自然语言处理很有趣"])
    body = ids[0][~pad_mask[0]][1:-1].tolist()
    assert body and tokenizer.unk_id_ not in body
    assert tokenizer.decode(body).replace(" ", "") == "自然语言处理很有趣"
    if kind == "wordpiece":  # CJK ideographs are split into single characters
        tokens = [tokenizer.tokenizer_.id_to_token(i) for i in body]
        assert tokens == list("自然语言处理很有趣")


def test_wordpiece_unseen_chinese_character_is_unk() -> None:
    tokenizer = TextTokenizer(kind="wordpiece", vocab_size=500).fit(CHINESE * 30)
    ids, _ = tokenizer.transform(["猫"])
    assert ids[0].tolist() == [tokenizer.cls_id_, tokenizer.unk_id_, tokenizer.sep_id_]


def test_lowercase_and_nfkc() -> None:
    tokenizer = TextTokenizer(vocab_size=300).fit(CORPUS)
    a, _ = tokenizer.transform(["HELLO World"])
    b, _ = tokenizer.transform(["hello world"])
    c, _ = tokenizer.transform(["ｈｅｌｌｏ ｗｏｒｌｄ"])  # full-width forms, NFKC folds them
    assert torch.equal(a, b) and torch.equal(b, c)
    cased = TextTokenizer(vocab_size=300, lowercase=False).fit(CORPUS)
    assert not torch.equal(cased.transform(["HELLO"])[0], cased.transform(["hello"])[0])


@pytest.mark.parametrize("kind", KINDS)
def test_truncation_to_max_length_and_count(kind: str) -> None:
    tokenizer = TextTokenizer(kind=kind, vocab_size=400, max_length=8).fit(CORPUS)
    long = " ".join(ENGLISH)
    ids, pad_mask = tokenizer.transform([long, "hello", long + " 自然语言处理很有趣"])
    assert ids.shape == (3, 8)
    assert tokenizer.truncated_count_ == 2
    assert ids[0, -1] == tokenizer.sep_id_ and not pad_mask[0].any()
    assert pad_mask[1].sum() > 0
    tokenizer.transform(["hello"])
    assert tokenizer.truncated_count_ == 0  # the count is of the last call only


def test_empty_batch(fitted: TextTokenizer) -> None:
    ids, pad_mask = fitted.transform([])
    assert ids.shape == (0, 0) and pad_mask.shape == (0, 0) and ids.dtype == torch.int64


def test_unfitted_raises() -> None:
    tokenizer = TextTokenizer()
    for call in (lambda: tokenizer.transform(["a"]), tokenizer.state_dict, lambda: tokenizer.decode([1])):
        with pytest.raises(RuntimeError, match=r"call fit\(\) or load a bundle"):
            call()


def test_bad_kind_is_config_error() -> None:
    with pytest.raises(ConfigError, match="wordpiece, bpe"):
        TextTokenizer(kind="sentencepiece")


def test_bad_sizes_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="vocab_size"):
        TextTokenizer(kind="bpe", vocab_size=100)
    with pytest.raises(ConfigError, match="max_length"):
        TextTokenizer(max_length=2)


@pytest.mark.parametrize("corpus", [[], ["", "   ", "\n"]])
def test_empty_corpus_is_data_error(corpus: list[str]) -> None:
    with pytest.raises(DataError, match="TextTokenizer.fit"):
        TextTokenizer().fit(corpus)


def test_generator_corpus_and_non_str_inputs() -> None:
    tokenizer = TextTokenizer(vocab_size=300).fit(text for text in CORPUS)
    assert tokenizer.vocab_size_ > len(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    with pytest.raises(DataError, match="#1 is int"):
        TextTokenizer().fit(["fine", 3])  # type: ignore[list-item]
    with pytest.raises(DataError, match="single str"):
        tokenizer.transform("not a list")
    with pytest.raises(DataError, match="#0 is bytes"):
        tokenizer.transform([b"bytes"])  # type: ignore[list-item]


def test_malformed_state_and_kind_checks(fitted: TextTokenizer) -> None:
    state = fitted.state_dict()
    with pytest.raises(DataError, match="malformed"):
        TextTokenizer.from_state({**state, "tokenizer": "{not json"})
    with pytest.raises(DataError, match="malformed"):
        TextTokenizer.from_state({k: v for k, v in state.items() if k != "max_length"})
    with pytest.raises(BundleError, match="'text' preprocessor"):
        preprocessor_from_state(state, expect="image")  # a caller that needs images refuses a text bundle clearly
    pipeline = preprocessor_from_state(state)
    assert isinstance(pipeline, TextPipeline) and isinstance(pipeline.tokenizer, TextTokenizer)


FIT_IN_A_FRESH_PROCESS = """
import hashlib, json, sys
from tests.conftest import synthetic_texts
from ptft.preprocess import TextTokenizer
tokenizer = TextTokenizer(sys.argv[1], vocab_size=int(sys.argv[2]), max_length=16).fit(synthetic_texts(256).texts)
print(hashlib.sha256(json.dumps(tokenizer.state_dict(), sort_keys=True).encode()).hexdigest())
"""


@pytest.mark.parametrize(("kind", "vocab_size"), [("wordpiece", 120), ("wordpiece", 400), ("bpe", 300)])
def test_fitting_is_reproducible_across_processes(kind: str, vocab_size: int) -> None:
    """Hugging Face's WordPieceTrainer gives another vocabulary in every process (its hash maps are seeded at
    random); ptft's WordPiece training must not, or two runs with one seed would differ."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    digests = {
        subprocess.run(
            [sys.executable, "-c", FIT_IN_A_FRESH_PROCESS, kind, str(vocab_size)],
            cwd=root, capture_output=True, text=True, check=True,
        ).stdout.strip()
        for _ in range(3)
    }  # fmt: skip
    assert len(digests) == 1


def test_wordpiece_vocabulary_marks_word_inner_pieces() -> None:
    from tests.conftest import synthetic_texts

    tokenizer = TextTokenizer(vocab_size=120, max_length=32).fit(synthetic_texts(256).texts)
    vocab = tokenizer.tokenizer_.get_vocab()
    assert len(vocab) <= 120
    assert all(not token.startswith("##") or len(token) > 2 for token in vocab)
    assert {"##e", "e"} <= set(vocab)  # a letter both starting a word and inside one
    pieces = tokenizer.tokenizer_.encode("harbours").tokens
    assert pieces[1] == "[CLS]" or pieces[0] == "[CLS]"
    inner = [p for p in pieces if p not in ("[CLS]", "[SEP]", "[PAD]")]
    assert inner[0][:2] != "##" and all(p.startswith("##") for p in inner[1:])
    assert tokenizer.tokenizer_.decode(tokenizer.tokenizer_.encode("harbours").ids) == "harbours"


@pytest.mark.parametrize("lowercase", [True, False])
def test_word_counts_of_ascii_batches_equal_the_tokenizers_own(lowercase: bool) -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from ptft.preprocess.wordpiece import count_words

    tokenizer, _ = TextTokenizer(lowercase=lowercase)._new_tokenizer()
    printable = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30)
    anything = st.text(max_size=30)  # control characters, newlines, accents, CJK: the per-text path

    @settings(max_examples=200, deadline=None, derandomize=True)
    @given(st.lists(st.lists(printable | anything, max_size=6), max_size=4))
    def check(batches: list[list[str]]) -> None:
        assert count_words(tokenizer, batches, bert_lowercase=lowercase) == count_words(tokenizer, batches)

    check()

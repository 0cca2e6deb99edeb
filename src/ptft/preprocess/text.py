"""`TextTokenizer`: the fitted text preprocessing saved with every text bundle.

A subword tokenizer trained on the pre-training corpus with Hugging Face `tokenizers`: WordPiece
(Schuster & Nakajima 2012, as used by BERT, Devlin et al. 2019) or byte-level BPE (Sennrich et al. 2016;
Radford et al. 2019). Text is NFKC-normalised and CJK ideographs are split into single characters
before subword training, so Chinese and other scripts without spaces tokenize sensibly. The state is
the tokenizer's own JSON plus the options: plain JSON, no pickle.

`TextTokenizer.from_tokenizer_json` instead wraps a pre-trained model's Hugging Face `tokenizer.json`
(kind "pretrained"): its normalizer and vocabulary are kept, so ids match the checkpoint's embeddings.

`encode_ids` (for writing token shards) gives the same ids as `transform`, unpadded, several times faster:
`tokenizers` builds a heavy `Encoding` per text (token strings, offsets, masks) that shards never use.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

from ptft.errors import ConfigError, DataError
from ptft.preprocess.wordpiece import ASCII_WORD, count_words, printable_ascii, train_wordpiece

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
KINDS = ("wordpiece", "bpe")
PRETRAINED = "pretrained"  # read from a tokenizer.json by `from_tokenizer_json`; never built by `__init__` or `fit`
_BYTE_ALPHABET = 256
_MIN_VOCAB = {"wordpiece": 32, "bpe": _BYTE_ALPHABET + len(SPECIAL_TOKENS)}
_BATCH = 1000
# The exact shortcut of `encode_ids` for printable ASCII (U+0020-U+007E) through BERT-style WordPiece. On
# such text these normalizers are the identity or str.lower, BertPreTokenizer cuts words at spaces and
# isolates each of the 32 ASCII punctuation characters, and the model maps each word on its own: a
# text's ids are its words' ids, which a cache holds (word frequencies are Zipfian).
_ASCII_SAFE_NORMALIZERS = {"NFC", "NFD", "NFKC", "NFKD", "StripAccents", "Lowercase", "BertNormalizer"}
_WORD_CACHE_SIZE = 200_000  # cached words (about 40 MB); the cache is emptied when full


class TextTokenizer:
    """sklearn-style: `fit` learns the subword vocabulary (`vocab_size_`, `pad_id_`, `mask_id_`, `cls_id_`,
    `sep_id_`) and returns self; `transform` gives `(ids, pad_mask)` and records `truncated_count_`."""

    kind = "text"

    def __init__(self, kind: str = "wordpiece", vocab_size: int = 8000, max_length: int = 128, lowercase: bool = True):
        if kind not in KINDS:
            raise ConfigError(f"TextTokenizer kind {kind!r} is unknown; use one of: {', '.join(KINDS)}")
        if int(vocab_size) < _MIN_VOCAB[kind]:
            raise ConfigError(
                f"TextTokenizer vocab_size {vocab_size} is too small for {kind!r}; use at least {_MIN_VOCAB[kind]}"
            )
        if int(max_length) < 3:
            raise ConfigError(f"TextTokenizer max_length {max_length} leaves no room beside [CLS] and [SEP]; use >= 3")
        self.tokenizer_kind = kind
        self.vocab_size = int(vocab_size)
        self.max_length = int(max_length)
        self.lowercase = bool(lowercase)

    def _new_tokenizer(self) -> tuple[Tokenizer, trainers.Trainer | None]:
        # BertNormalizer puts spaces around CJK ideographs (handle_chinese_chars), so each becomes a word.
        steps = [
            normalizers.NFKC(),
            normalizers.BertNormalizer(
                clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=self.lowercase
            ),
        ]
        trainer: trainers.Trainer | None = None  # WordPiece is trained by ptft.preprocess.wordpiece
        if self.tokenizer_kind == "wordpiece":
            tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
            tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
            tokenizer.decoder = decoders.WordPiece()
        else:
            tokenizer = Tokenizer(models.BPE())
            tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
            tokenizer.decoder = decoders.ByteLevel()
            trainer = trainers.BpeTrainer(
                vocab_size=self.vocab_size,
                special_tokens=SPECIAL_TOKENS,
                initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                show_progress=False,
            )
        tokenizer.normalizer = normalizers.Sequence(steps)
        return tokenizer, trainer

    def fit(self, texts: Iterable[str]) -> TextTokenizer:
        """Train the subword vocabulary on a corpus of strings (consumed once, in batches)."""
        if self.tokenizer_kind == PRETRAINED:
            raise ConfigError(
                "this TextTokenizer wraps a pre-trained tokenizer.json and is already fitted; refitting would "
                "replace the vocabulary the pre-trained weights expect. Use it as it is (transform)"
            )
        tokenizer, trainer = self._new_tokenizer()
        seen = {"texts": 0, "nonblank": 0}

        def batches() -> Iterator[list[str]]:
            batch: list[str] = []
            for text in texts:
                if not isinstance(text, str):
                    raise DataError(
                        f"TextTokenizer.fit: text #{seen['texts']} is {type(text).__name__}, not str; "
                        "pass an iterable of strings"
                    )
                seen["texts"] += 1
                seen["nonblank"] += bool(text.strip())
                batch.append(text)
                if len(batch) == _BATCH:
                    yield batch
                    batch = []
            if batch:
                yield batch

        if trainer is None:  # reproducible WordPiece: see ptft.preprocess.wordpiece
            words = count_words(tokenizer, batches(), bert_lowercase=self.lowercase)
            vocab = train_wordpiece(words, self.vocab_size, SPECIAL_TOKENS)
            tokenizer.model = models.WordPiece(vocab, unk_token="[UNK]")
            tokenizer.add_special_tokens(SPECIAL_TOKENS)  # as the trainers do: matched whole, skipped by decode
        else:
            tokenizer.train_from_iterator(batches(), trainer=trainer)
        if seen["nonblank"] == 0:
            raise DataError(
                f"TextTokenizer.fit got {seen['texts']} texts and none has any characters; pass the training corpus"
            )
        self._set_tokenizer(tokenizer)
        return self

    @classmethod
    def from_tokenizer_json(cls, path: str | Path, max_length: int = 128) -> TextTokenizer:
        """A fitted TextTokenizer from a Hugging Face `tokenizer.json` (e.g. a BERT WordPiece vocabulary).

        The file's normalizer (lowercasing included), pre-tokenizer and vocabulary are kept; its truncation,
        padding and post-processor are replaced by ptft's: `[CLS] text [SEP]`, at most `max_length` ids,
        padded with [PAD] to the longest in the batch. The vocabulary must hold [PAD] [UNK] [CLS] [SEP] [MASK].
        """
        path = Path(path)
        try:
            tokenizer = Tokenizer.from_file(str(path))
        except Exception as exc:  # missing file, or the Rust parser's error on bad JSON
            raise DataError(
                f"{path}: not a readable Hugging Face tokenizer.json ({exc}); pass the tokenizer.json saved "
                "with the model (a 'fast' tokenizer's save_pretrained writes it)"
            ) from None
        missing = [token for token in SPECIAL_TOKENS if tokenizer.token_to_id(token) is None]
        if missing:
            raise DataError(
                f"{path}: the tokenizer's vocabulary lacks the special tokens {missing}; ptft needs all of "
                f"{SPECIAL_TOKENS} (a BERT-style WordPiece tokenizer)"
            )
        return cls._pretrained(tokenizer, max_length)

    @classmethod
    def _pretrained(cls, tokenizer: Tokenizer, max_length: int) -> TextTokenizer:
        text = cls(max_length=max_length)  # validates max_length; kind and vocabulary come from the file
        text.tokenizer_kind = PRETRAINED
        text.vocab_size = tokenizer.get_vocab_size()
        text.lowercase = _lowercases(json.loads(tokenizer.to_str()).get("normalizer"))
        text._set_tokenizer(tokenizer)
        return text

    def _set_tokenizer(self, tokenizer: Tokenizer) -> None:
        ids = {token: tokenizer.token_to_id(token) for token in SPECIAL_TOKENS}
        missing = [token for token, i in ids.items() if i is None]
        if missing:
            raise DataError(f"text tokenizer vocabulary lacks the special tokens {missing}")
        tokenizer.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", special_tokens=[("[CLS]", ids["[CLS]"]), ("[SEP]", ids["[SEP]"])]
        )
        tokenizer.enable_truncation(self.max_length)
        tokenizer.enable_padding(pad_id=ids["[PAD]"], pad_token="[PAD]")
        self.tokenizer_ = tokenizer
        self.vocab_size_ = tokenizer.get_vocab_size()
        self.pad_id_ = ids["[PAD]"]
        self.unk_id_ = ids["[UNK]"]
        self.cls_id_ = ids["[CLS]"]
        self.sep_id_ = ids["[SEP]"]
        self.mask_id_ = ids["[MASK]"]
        self.truncated_count_ = 0
        self._id_encoders: tuple[Tokenizer, _AsciiWordPiece | None] | None = None  # built by `encode_ids`

    def _check_fitted(self) -> None:
        if not hasattr(self, "tokenizer_"):
            raise RuntimeError("TextTokenizer is not fitted: call fit() or load a bundle first")

    def transform(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Strings -> `(ids, pad_mask)`, both (N, T): int64 ids `[CLS] ... [SEP]` truncated to `max_length`
        and padded to the longest in the batch; bool `pad_mask` True at padding. Sets `truncated_count_`."""
        self._check_fitted()
        if isinstance(texts, str):
            raise DataError("TextTokenizer.transform needs a sequence of strings, got a single str; wrap it in a list")
        texts = list(texts)
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                raise DataError(f"TextTokenizer.transform: text #{index} is {type(text).__name__}, not str")
        encodings = self.tokenizer_.encode_batch(texts) if texts else []
        self.truncated_count_ = sum(1 for encoding in encodings if encoding.overflowing)
        if not encodings:
            return torch.zeros((0, 0), dtype=torch.int64), torch.zeros((0, 0), dtype=torch.bool)
        ids = torch.tensor([encoding.ids for encoding in encodings], dtype=torch.int64)
        pad_mask = torch.tensor([encoding.attention_mask for encoding in encodings], dtype=torch.int64) == 0
        return ids, pad_mask

    def encode_ids(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Strings -> `(ids, lengths)`: every text's unpadded ids `[CLS] ... [SEP]` (truncated to `max_length`)
        back to back, int64, and how many ids each text has: exactly the ids `transform` gives, without
        padding. Printable-ASCII texts take the cached-word shortcut when the tokenizer is BERT-style
        WordPiece; the others go through `tokenizers` (parallel across the cores), asking only for ids."""
        self._check_fitted()
        if self._id_encoders is None:
            unpadded = Tokenizer.from_str(self.tokenizer_.to_str())
            unpadded.no_padding()
            self._id_encoders = unpadded, _AsciiWordPiece.for_tokenizer(self)
        unpadded, ascii_encoder = self._id_encoders
        texts = list(texts)
        if not texts:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        quick = ascii_encoder.eligible(texts) if ascii_encoder else np.zeros(len(texts), dtype=bool)
        if quick.all() and ascii_encoder:
            return ascii_encoder.encode(texts)
        encode_batch = getattr(unpadded, "encode_batch_fast", unpadded.encode_batch)  # _fast: no offsets (>= 0.21)
        slow = encode_batch([text for text, q in zip(texts, quick) if not q])
        slow_lengths = np.fromiter((len(encoding.ids) for encoding in slow), dtype=np.int64, count=len(slow))
        slow_ids = np.fromiter(chain.from_iterable(encoding.ids for encoding in slow), dtype=np.int64)
        if not quick.any() or not ascii_encoder:
            return slow_ids, slow_lengths
        quick_ids, quick_lengths = ascii_encoder.encode([text for text, q in zip(texts, quick) if q])
        lengths = np.empty(len(texts), dtype=np.int64)
        lengths[quick], lengths[~quick] = quick_lengths, slow_lengths
        starts = np.cumsum(lengths) - lengths
        ids = np.empty(int(lengths.sum()), dtype=np.int64)
        ids[_ranges(starts[quick], quick_lengths)] = quick_ids
        ids[_ranges(starts[~quick], slow_lengths)] = slow_ids
        return ids, lengths

    def fit_transform(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        return self.fit(texts).transform(texts)

    def decode(self, ids: Sequence[int]) -> str:
        """Token ids back to text, special tokens dropped (for inspecting what the model sees)."""
        self._check_fitted()
        return self.tokenizer_.decode([int(i) for i in ids], skip_special_tokens=True)

    def state_dict(self) -> dict[str, Any]:
        self._check_fitted()
        return {
            "kind": self.kind,
            "tokenizer_kind": self.tokenizer_kind,
            "vocab_size": self.vocab_size,
            "max_length": self.max_length,
            "lowercase": self.lowercase,
            "tokenizer": self.tokenizer_.to_str(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TextTokenizer:
        try:
            if state["tokenizer_kind"] == PRETRAINED:
                return cls._pretrained(Tokenizer.from_str(str(state["tokenizer"])), int(state["max_length"]))
            tokenizer = cls(
                kind=str(state["tokenizer_kind"]),
                vocab_size=int(state["vocab_size"]),
                max_length=int(state["max_length"]),
                lowercase=bool(state["lowercase"]),
            )
            tokenizer._set_tokenizer(Tokenizer.from_str(str(state["tokenizer"])))
        except Exception as exc:  # KeyError, ValueError, ConfigError, or the Rust parser's error on bad JSON
            shown = {k: v for k, v in state.items() if k != "tokenizer"} if isinstance(state, dict) else state
            raise DataError(f"text preprocessor state is malformed ({exc!r}): {shown}") from None
        return tokenizer


def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """`concatenate([arange(s, s + c) for s, c in zip(starts, counts)])`, without the Python loop."""
    return np.arange(int(counts.sum())) + np.repeat(starts - (np.cumsum(counts) - counts), counts)


class _AsciiWordPiece:
    """`encode_ids` for printable-ASCII texts: the ids `tokenizers` gives them, from cached per-word ids.

    Only for a tokenizer whose every step is known to act on such text as `encode` does here (checked
    by `for_tokenizer`); tests/test_shards.py compares both on generated ASCII text."""

    def __init__(self, text: TextTokenizer, lowercase: bool, added: list[str]) -> None:
        self.model = text.tokenizer_.model
        self.lowercase = lowercase
        self.added = added  # special tokens are matched in the raw text: a text holding one goes the slow way
        self.cls_id, self.sep_id = int(text.cls_id_), int(text.sep_id_)  # type: ignore[arg-type]
        self.body = text.max_length - 2  # truncation keeps the first max_length - 2 ids, then [CLS] ... [SEP]
        self.words = _WordTable(self.model)

    @classmethod
    def for_tokenizer(cls, text: TextTokenizer) -> _AsciiWordPiece | None:
        config = json.loads(text.tokenizer_.to_str())
        normalizer = config.get("normalizer") or {"type": "Sequence", "normalizers": []}
        steps = normalizer["normalizers"] if normalizer["type"] == "Sequence" else [normalizer]
        template = [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                    {"SpecialToken": {"id": "[SEP]", "type_id": 0}}]  # fmt: skip
        truncation = {"direction": "Right", "max_length": text.max_length, "strategy": "LongestFirst", "stride": 0}
        known = (
            config["model"]["type"] == "WordPiece"
            and config.get("pre_tokenizer") == {"type": "BertPreTokenizer"}
            and all(step["type"] in _ASCII_SAFE_NORMALIZERS for step in steps)
            and all(token["special"] and not token["normalized"] for token in config["added_tokens"])
            and (config.get("post_processor") or {}).get("single") == template
            and config.get("truncation") == truncation
        )
        if not known:
            return None
        return cls(text, _lowercases(normalizer), [token["content"] for token in config["added_tokens"]])

    def eligible(self, texts: list[str]) -> np.ndarray:
        """Which texts are printable ASCII without a special token (checked on the whole batch first)."""
        joined = "\n".join(texts)
        if printable_ascii(joined, len(texts)) and not any(token in joined for token in self.added):
            return np.ones(len(texts), dtype=bool)
        return np.fromiter(
            (t.isascii() and t.isprintable() and not any(token in t for token in self.added) for t in texts),
            dtype=bool,
            count=len(texts),
        )

    def encode(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Eligible texts -> `(ids, lengths)` as `TextTokenizer.encode_ids`."""
        joined = "\n".join(texts)
        words = ASCII_WORD.findall(joined.lower() if self.lowercase else joined)  # "\n" is a word: a text's end
        if len(self.words) > _WORD_CACHE_SIZE:
            self.words = _WordTable(self.model)
        rows = np.fromiter(map(self.words.__getitem__, words), dtype=np.int64, count=len(words))
        word_starts, word_counts, word_ids = self.words.arrays()
        pieces = word_ids[_ranges(word_starts[rows], word_counts[rows])]
        ends = np.flatnonzero(pieces < 0)
        starts = np.concatenate([[0], ends + 1])
        kept = np.minimum(np.append(ends, len(pieces)) - starts, self.body)
        lengths = kept + 2
        first = np.cumsum(lengths) - lengths
        ids = np.empty(int(lengths.sum()), dtype=np.int64)
        ids[first], ids[first + lengths - 1] = self.cls_id, self.sep_id
        ids[_ranges(first + 1, kept)] = pieces[_ranges(starts, kept)]
        return ids, lengths


class _WordTable(dict[str, int]):
    """word -> row: row r's ids are `ids[starts[r] : starts[r] + counts[r]]` of `arrays()`. A word not yet
    seen is tokenized by the WordPiece model itself on lookup. Row 0 is "\n", the end of a text (id -1)."""

    def __init__(self, model: models.Model) -> None:
        super().__init__({"\n": 0})
        self.model = model
        self.counts, self.ids = np.ones(1, dtype=np.int64), np.full(1, -1, dtype=np.int64)
        self.new_counts: list[int] = []
        self.new_ids: list[int] = []

    def __missing__(self, word: str) -> int:
        ids = [token.id for token in self.model.tokenize(word)]
        self.new_ids += ids
        self.new_counts.append(len(ids))
        row = self[word] = len(self)
        return row

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(starts, counts, ids), the words added since the last call included."""
        if self.new_counts:
            self.counts = np.concatenate([self.counts, np.array(self.new_counts, dtype=np.int64)])
            self.ids = np.concatenate([self.ids, np.array(self.new_ids, dtype=np.int64)])
            self.new_counts, self.new_ids = [], []
        return np.cumsum(self.counts) - self.counts, self.counts, self.ids


def _lowercases(normalizer: Any) -> bool:
    """Whether a tokenizer.json normalizer (its JSON) lowercases: recorded as `lowercase`, never changed."""
    if not isinstance(normalizer, dict):
        return False
    if normalizer.get("type") == "Sequence":
        return any(_lowercases(step) for step in normalizer.get("normalizers", []))
    return normalizer.get("type") == "Lowercase" or (
        normalizer.get("type") == "BertNormalizer" and bool(normalizer.get("lowercase"))
    )

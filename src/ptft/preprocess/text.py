"""`TextTokenizer`: the fitted text preprocessing saved with every text bundle.

A subword tokenizer trained on the pre-training corpus with Hugging Face `tokenizers`: WordPiece
(Schuster & Nakajima 2012, as used by BERT, Devlin et al. 2019) or byte-level BPE (Sennrich et al. 2016;
Radford et al. 2019). Text is NFKC-normalised and CJK ideographs are split into single characters
before subword training, so Chinese and other scripts without spaces tokenize sensibly. The state is
the tokenizer's own JSON plus the options: plain JSON, no pickle.

`TextTokenizer.from_tokenizer_json` instead wraps a pre-trained model's Hugging Face `tokenizer.json`
(kind "pretrained"): its normalizer and vocabulary are kept, so ids match the checkpoint's embeddings.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

from ptft.errors import ConfigError, DataError
from ptft.preprocess.wordpiece import count_words, train_wordpiece

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
KINDS = ("wordpiece", "bpe")
PRETRAINED = "pretrained"  # read from a tokenizer.json by `from_tokenizer_json`; never built by `__init__` or `fit`
_BYTE_ALPHABET = 256
_MIN_VOCAB = {"wordpiece": 32, "bpe": _BYTE_ALPHABET + len(SPECIAL_TOKENS)}
_BATCH = 1000


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
            vocab = train_wordpiece(count_words(tokenizer, batches()), self.vocab_size, SPECIAL_TOKENS)
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


def _lowercases(normalizer: Any) -> bool:
    """Whether a tokenizer.json normalizer (its JSON) lowercases: recorded as `lowercase`, never changed."""
    if not isinstance(normalizer, dict):
        return False
    if normalizer.get("type") == "Sequence":
        return any(_lowercases(step) for step in normalizer.get("normalizers", []))
    return normalizer.get("type") == "Lowercase" or (
        normalizer.get("type") == "BertNormalizer" and bool(normalizer.get("lowercase"))
    )

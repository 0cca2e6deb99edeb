"""`TextPipeline`: the per-text cleaning transforms + the fitted tokenizer, saved together in the bundle.

Pre-training, fine-tuning, evaluation and prediction all feed text through the same pipeline, so a
model always sees text cleaned and tokenized exactly as in pre-training. Only the per-text transforms
(mojibake repair, NFKC, control characters, whitespace) belong here; corpus filters (length, garble,
de-duplication) decide which texts a corpus keeps and are not applied to texts being predicted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ptft.data.batch import MAIN, Batch
from ptft.data.cleaning import CleanConfig, transform_all, transforms
from ptft.errors import DataError
from ptft.preprocess.text import TextTokenizer

STEPS = {name: function for name, function in transforms(CleanConfig())}
# No subword covers more than this many characters (WordPiece's max_input_chars_per_word is 100), so a
# text cut at max_length x CHARS_PER_TOKEN_BOUND characters tokenizes to the same first max_length
# tokens; a 50 MB line then costs kilobytes, not gigabytes, to tokenize.
CHARS_PER_TOKEN_BOUND = 100


class TextPipeline:
    kind = "text"

    def __init__(self, tokenizer: TextTokenizer, clean_steps: Sequence[str] = tuple(STEPS)) -> None:
        unknown = [name for name in clean_steps if name not in STEPS]
        if unknown:
            raise DataError(f"unknown text cleaning step(s) {unknown}; known: {', '.join(STEPS)}")
        self.tokenizer = tokenizer
        self.clean_steps = list(clean_steps)

    def clean(self, text: str) -> str:
        for name in self.clean_steps:
            text = STEPS[name](text)
        return text

    def clean_all(self, texts: Sequence[str]) -> list[str]:
        """`[clean(text[:cut]) for text in texts]` (`cut` = max_length x CHARS_PER_TOKEN_BOUND characters),
        faster: a step that changes none of the texts is skipped for all of them."""
        limit = self.tokenizer.max_length * CHARS_PER_TOKEN_BOUND
        return transform_all([text[:limit] for text in texts], [(name, STEPS[name]) for name in self.clean_steps])

    def fit(self, texts: Sequence[str]) -> TextPipeline:
        """Train the tokenizer on the (already cleaned) corpus."""
        self.tokenizer.fit(texts)
        return self

    def transform(self, texts: Sequence[str], cleaned: bool = False) -> torch.Tensor:
        """Texts -> (N, T) int64 token ids, right-padded with `pad_id` to the longest text.
        `cleaned`: the texts were already cut and cleaned by these steps (a prepared pre-training corpus)."""
        if isinstance(texts, str):
            raise DataError("TextPipeline.transform needs a list of strings, got a single str; wrap it in a list")
        ids, _ = self.tokenizer.transform(list(texts) if cleaned else self.clean_all(texts))
        return ids

    def batch(self, texts: Sequence[str], cleaned: bool = False) -> Batch:
        """The model's input for texts: `{"x": (N, T) token ids}` and the mask of their padding."""
        ids = self.transform(texts, cleaned)
        return Batch({MAIN: ids}, ids == self.pad_id)

    def encode_ids(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Texts -> `(ids, lengths)`: the unpadded token ids of every text (`[CLS] ... [SEP]`, truncated to
        max_length) back to back, int64, and each text's count; for writing token shards."""
        return self.tokenizer.encode_ids(self.clean_all(texts))

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Texts -> unpadded token id lists (`[CLS] ... [SEP]`, truncated to max_length)."""
        ids, lengths = self.encode_ids(texts)
        flat, ends = ids.tolist(), np.cumsum(lengths).tolist()
        return [flat[end - length : end] for end, length in zip(ends, lengths.tolist())]

    @property
    def truncated_count(self) -> int:
        """Texts cut at max_length by the last `transform`."""
        return int(getattr(self.tokenizer, "truncated_count_", 0))

    @property
    def pad_id(self) -> int:
        return int(self.tokenizer.pad_id_)  # type: ignore[arg-type]

    @property
    def special_ids(self) -> list[int]:
        t = self.tokenizer
        return [int(i) for i in (t.pad_id_, t.unk_id_, t.cls_id_, t.sep_id_, t.mask_id_) if i is not None]

    def state_dict(self) -> dict[str, Any]:
        return {**self.tokenizer.state_dict(), "kind": self.kind, "clean_steps": self.clean_steps}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TextPipeline:
        return cls(TextTokenizer.from_state(state), state.get("clean_steps", []))

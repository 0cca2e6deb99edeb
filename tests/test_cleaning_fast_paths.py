"""The fast paths of the cleaning steps (compiled character class, ASCII shortcuts, skipping a step for a
whole batch) give exactly what the plain per-character and per-text definitions give, on arbitrary text
(Hypothesis)."""

from __future__ import annotations

import sys
import unicodedata
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from ptft.data.cleaning import (
    _OTHER_SPACES,
    DOMINANT_MIN_LENGTH,
    INVISIBLE_FORMATS,
    KEPT_CONTROLS,
    REPLACEMENT,
    CleanConfig,
    garble_reason,
    normalize_nfkc,
    remove_control,
    repair_mojibake,
    transform_all,
    transforms,
)

TEXT = st.text(max_size=60) | st.text(st.characters(max_codepoint=0x7F), max_size=60)


def reference_remove_control(text: str) -> str:
    return "".join(
        c for c in text if c in KEPT_CONTROLS or (unicodedata.category(c) != "Cc" and c not in INVISIBLE_FORMATS)
    )


def reference_garble(text: str, min_letter_ratio: float = 0.5, max_char_share: float = 0.5) -> str | None:
    visible = [c for c in text if not c.isspace()]
    if not visible:
        return None
    if REPLACEMENT in text:
        return "replacement"
    if sum(unicodedata.category(c)[0] in "LMN" for c in visible) / len(visible) < min_letter_ratio:
        return "letters"
    if len(visible) >= DOMINANT_MIN_LENGTH and Counter(visible).most_common(1)[0][1] / len(visible) > max_char_share:
        return "repeated"
    return None


@settings(max_examples=400, derandomize=True)
@given(TEXT)
def test_fast_paths_equal_the_definitions(text: str) -> None:
    assert remove_control(text) == reference_remove_control(text)
    assert garble_reason(text) == reference_garble(text)
    assert normalize_nfkc(text) == unicodedata.normalize("NFKC", text)
    if text.isascii():
        assert repair_mojibake(text) == text


# Batches that are often clean (so steps get skipped) and sometimes hold what each step changes.
CLEAN_WORDS = st.text("abcXYZ019.,()-'", min_size=1, max_size=8)
TIDY = st.lists(CLEAN_WORDS, max_size=6).map(" ".join)
AWKWARD = st.sampled_from(["  ", " ", "\t", "\n", "\r", "\x00", "\x7f", "\u200b", "\u3000", "\xa0", "é", "ﬁ", "â€™"])
BATCH_TEXT = TIDY | st.tuples(TIDY, AWKWARD, TIDY).map("".join) | TEXT


@settings(max_examples=400, derandomize=True)
@given(st.lists(BATCH_TEXT, max_size=8), st.lists(st.booleans(), min_size=4, max_size=4))
def test_batch_transforms_equal_the_per_text_steps(texts: list[str], switches: list[bool]) -> None:
    config = CleanConfig(fix_mojibake=switches[0], nfkc=switches[1], strip_control=switches[2],
                         normalize_whitespace=switches[3])  # fmt: skip
    steps = transforms(config)
    expected = []
    for text in texts:
        for _, function in steps:
            text = function(text)
        expected.append(text)
    assert transform_all(texts, steps) == expected


def test_the_other_spaces_are_what_str_split_splits_at() -> None:
    spaces = {c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace()}
    assert sorted(_OTHER_SPACES) == sorted(spaces - {" ", "\n"})

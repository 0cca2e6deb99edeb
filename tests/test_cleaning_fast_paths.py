"""The fast paths of the cleaning steps (compiled character class, ASCII shortcuts) give exactly what the
plain per-character definitions give, on arbitrary text (Hypothesis)."""

from __future__ import annotations

import unicodedata
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from ptft.data.cleaning import (
    DOMINANT_MIN_LENGTH,
    INVISIBLE_FORMATS,
    KEPT_CONTROLS,
    REPLACEMENT,
    garble_reason,
    normalize_nfkc,
    remove_control,
    repair_mojibake,
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

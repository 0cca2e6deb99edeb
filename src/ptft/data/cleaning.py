"""Text cleaning: pure per-text functions, each switchable in CleanConfig, and `clean` with a report.

Transforms (they change a text): mojibake repair with ftfy (Speer, 2019), Unicode NFKC normalisation,
removal of control characters, whitespace normalisation. Filters (they drop a text): length in
characters and a garble filter that knows no language or script: it looks only at Unicode categories
(the share of letters, marks and digits among the non-space characters), U+FFFD replacement characters
and a single character dominating the text, so Chinese, Arabic or Hindi pass while byte noise does not.
De-duplication lives in `ptft.data.dedup`.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import ftfy

from ptft.errors import ConfigError

KEPT_CONTROLS = frozenset("\t\n")
# Zero-width space, BOM, word joiner; ZWJ/ZWNJ stay because scripts (Arabic, Indic, emoji) need them.
INVISIBLE_FORMATS = frozenset("\u200b\ufeff\u2060")
REPLACEMENT = "\ufffd"
EXAMPLES_PER_REASON = 3
DOMINANT_MIN_LENGTH = 10  # texts shorter than this are never called garbled for one repeated character


@dataclass(frozen=True)
class CleanConfig:
    """Every step can be switched off; lengths are in characters (after the transforms); 0 = no maximum."""

    fix_mojibake: bool = True
    nfkc: bool = True
    strip_control: bool = True
    normalize_whitespace: bool = True
    min_chars: int = 1
    max_chars: int = 0
    garble_filter: bool = True
    min_letter_ratio: float = 0.5
    max_char_share: float = 0.5

    def __post_init__(self) -> None:
        if self.min_chars < 0 or self.max_chars < 0:
            raise ConfigError(f"min_chars and max_chars must be >= 0, got {self.min_chars} and {self.max_chars}")
        if self.max_chars and self.max_chars < self.min_chars:
            raise ConfigError(f"max_chars {self.max_chars} is below min_chars {self.min_chars}; raise it or use 0")
        for name in ("min_letter_ratio", "max_char_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name} must be between 0 and 1, got {getattr(self, name)}")


@dataclass
class CleanReport:
    """What each step did: texts changed and characters removed by each transform, texts dropped by each filter.

    `kept_indices` are the input positions of the kept texts (to keep labels aligned); `examples` holds the
    first few dropped texts per reason.
    """

    seen: int = 0
    kept: int = 0
    changed: Counter[str] = field(default_factory=Counter)
    chars_removed: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    kept_indices: list[int] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"kept {self.kept} of {self.seen}"]
        parts += [
            f"{name} changed {count} ({self.chars_removed[name]} chars removed)" for name, count in self.changed.items()
        ]
        parts += [f"dropped {count} {reason}" for reason, count in self.dropped.items()]
        return "; ".join(parts)


def repair_mojibake(text: str) -> str:
    """ftfy's repair of text decoded with the wrong codec ('doesnâ€™t' -> 'doesn’t'); nothing else is touched.
    Pure ASCII cannot be mojibake: it is returned as it is without asking ftfy."""
    return text if text.isascii() else ftfy.fix_encoding(text)


def normalize_nfkc(text: str) -> str:
    """Unicode NFKC: full-width forms (including CJK punctuation such as '，'), ligatures and compatibility
    characters become their plain form. ASCII is its own NFKC form."""
    return text if text.isascii() else unicodedata.normalize("NFKC", text)


# Category Cc is exactly U+0000-U+001F and U+007F-U+009F; one compiled class removes them (but tab and
# newline) and the invisible formats - 8x faster than testing each character's category in Python.
_CONTROL = re.compile(
    "["
    + "".join(re.escape(chr(c)) for c in [*range(0x20), *range(0x7F, 0xA0)] if chr(c) not in KEPT_CONTROLS)
    + "".join(re.escape(c) for c in sorted(INVISIBLE_FORMATS))
    + "]"
)
_NOT_ASCII_ALNUM = re.compile(r"[^A-Za-z0-9]")


def remove_control(text: str) -> str:
    """Drop control characters (category Cc, except tab and newline) and invisible zero-width characters."""
    return _CONTROL.sub("", text)


def collapse_whitespace(text: str) -> str:
    """Every run of Unicode whitespace (including the ideographic space U+3000) becomes one space; ends stripped."""
    return " ".join(text.split())


def garble_reason(text: str, min_letter_ratio: float = 0.5, max_char_share: float = 0.5) -> str | None:
    """Why `text` looks garbled ('replacement', 'letters', 'repeated'), or None when it looks like language."""
    visible = "".join(text.split())  # every character but whitespace
    if not visible:
        return None
    if REPLACEMENT in text:
        return "replacement"
    if visible.isascii():  # fast path: in ASCII, letters, marks and numbers are exactly [A-Za-z0-9]
        letters = len(_NOT_ASCII_ALNUM.sub("", visible))
    else:
        letters = sum(unicodedata.category(char)[0] in "LMN" for char in visible)
    if letters / len(visible) < min_letter_ratio:
        return "letters"
    if len(visible) >= DOMINANT_MIN_LENGTH and Counter(visible).most_common(1)[0][1] / len(visible) > max_char_share:
        return "repeated"
    return None


# A step that would leave every text of a batch as it is can be skipped for the batch. Each test reads
# the batch joined by "\n" (one more "\n" than texts hold means a text holds one, and no test passes);
# they are substring scans and byte translation, several times faster than a regular expression.
_ASCII_CONTROLS = bytes([*range(0x09), *range(0x0B, 0x20), 0x7F])  # what remove_control drops from ASCII
# What str.split() splits at (str.isspace), but the space and the "\n" joining texts.
_OTHER_SPACES = (
    "\t\x0b\x0c\r\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000"
)


def _no_control(joined: str) -> bool:
    if joined.isascii():
        return len(joined.encode("ascii").translate(None, _ASCII_CONTROLS)) == len(joined)
    return _CONTROL.search(joined) is None


def _collapsed(joined: str) -> bool:
    """Every text's whitespace is single spaces between other characters."""
    doubled = "  " in joined or " \n" in joined or "\n " in joined or joined.startswith(" ") or joined.endswith(" ")
    return not doubled and not any(space in joined for space in _OTHER_SPACES)


_UNCHANGED: dict[str, Callable[[str], bool]] = {
    "mojibake": str.isascii,
    "nfkc": str.isascii,
    "control": _no_control,
    "whitespace": _collapsed,
}


def transform_all(texts: list[str], steps: list[tuple[str, Callable[[str], str]]]) -> list[str]:
    """`steps` (named as in `transforms`) applied to every text, in order, one step at a time over the
    list; a step the whole list shows would change nothing (e.g. NFKC of ASCII) is not run text by text."""
    joined = None  # the texts joined by "\n", while no step has changed them
    for name, function in steps:
        if joined is None:
            joined = "\n".join(texts)
            separate = joined.count("\n") == len(texts) - 1
        if name in _UNCHANGED and separate and _UNCHANGED[name](joined):
            continue
        texts, joined = list(map(function, texts)), None
    return texts


def transforms(config: CleanConfig) -> list[tuple[str, Callable[[str], str]]]:
    """The switched-on transforms in the order they run."""
    steps: list[tuple[str, Callable[[str], str]]] = [
        ("mojibake", repair_mojibake),
        ("nfkc", normalize_nfkc),
        ("control", remove_control),
        ("whitespace", collapse_whitespace),
    ]
    switches = {
        "mojibake": config.fix_mojibake,
        "nfkc": config.nfkc,
        "control": config.strip_control,
        "whitespace": config.normalize_whitespace,
    }
    return [(name, function) for name, function in steps if switches[name]]


def drop_reason(text: str, config: CleanConfig) -> str | None:
    """Which filter drops `text` ('too_short', 'too_long', 'garbled_<why>'), or None to keep it."""
    if len(text) < config.min_chars:
        return "too_short"
    if config.max_chars and len(text) > config.max_chars:
        return "too_long"
    if config.garble_filter:
        reason = garble_reason(text, config.min_letter_ratio, config.max_char_share)
        if reason is not None:
            return f"garbled_{reason}"
    return None


def clean(texts: Iterable[str], config: CleanConfig | None = None) -> tuple[list[str], CleanReport]:
    """Transform then filter every text; returns the kept texts (in input order) and what each step did."""
    config = config or CleanConfig()
    steps = transforms(config)
    report = CleanReport()
    kept: list[str] = []
    for index, text in enumerate(texts):
        report.seen += 1
        for name, function in steps:
            result = function(text)
            if result != text:
                report.changed[name] += 1
                report.chars_removed[name] += max(0, len(text) - len(result))
            text = result
        reason = drop_reason(text, config)
        if reason is None:
            kept.append(text)
            report.kept_indices.append(index)
            continue
        report.dropped[reason] += 1
        examples = report.examples.setdefault(reason, [])
        if len(examples) < EXAMPLES_PER_REASON:
            examples.append(text[:200])
    report.kept = len(kept)
    return kept, report

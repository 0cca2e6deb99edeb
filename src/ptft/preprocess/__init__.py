"""Fitted, serialisable preprocessors (plain-JSON state, no pickle)."""

from typing import Any, Literal, overload

from ptft.errors import BundleError
from ptft.preprocess.image import ImageNormalizer
from ptft.preprocess.text import TextTokenizer

# The image pipeline (api.py) works with this type; text bundles load through `expect="text"`.
Preprocessor = ImageNormalizer
_KINDS = {ImageNormalizer.kind: ImageNormalizer, TextTokenizer.kind: TextTokenizer}


@overload
def preprocessor_from_state(state: dict[str, Any], expect: Literal["image"] = ...) -> ImageNormalizer: ...
@overload
def preprocessor_from_state(state: dict[str, Any], expect: Literal["text"]) -> TextTokenizer: ...
@overload
def preprocessor_from_state(state: dict[str, Any], expect: None) -> ImageNormalizer | TextTokenizer: ...


def preprocessor_from_state(
    state: dict[str, Any], expect: Literal["image", "text"] | None = "image"
) -> ImageNormalizer | TextTokenizer:
    """Rebuild a fitted preprocessor from its bundle state; `expect` is the kind the caller can use
    (None: any kind)."""
    kind = state.get("kind")
    if kind not in _KINDS:
        raise BundleError(f"unknown preprocessor kind {kind!r} in bundle; this ptft knows: {', '.join(_KINDS)}")
    if expect is not None and kind != expect:
        raise BundleError(
            f"bundle holds a {kind!r} preprocessor but this needs {expect!r} data; use a bundle made from {expect} data"
        )
    if kind == TextTokenizer.kind:
        return TextTokenizer.from_state(state)
    return ImageNormalizer.from_state(state)


__all__ = ["ImageNormalizer", "Preprocessor", "TextTokenizer", "preprocessor_from_state"]

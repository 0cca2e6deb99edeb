"""Fitted, serialisable preprocessors (plain-JSON state, no pickle)."""

from typing import Any, Literal, overload

from ptft.errors import BundleError
from ptft.preprocess.image import ImageNormalizer
from ptft.preprocess.pipeline import TextPipeline
from ptft.preprocess.text import TextTokenizer

Preprocessor = ImageNormalizer | TextPipeline
_KINDS = {ImageNormalizer.kind: ImageNormalizer, TextPipeline.kind: TextPipeline}


@overload
def preprocessor_from_state(state: dict[str, Any], expect: Literal["image"] = ...) -> ImageNormalizer: ...
@overload
def preprocessor_from_state(state: dict[str, Any], expect: Literal["text"]) -> TextPipeline: ...
@overload
def preprocessor_from_state(state: dict[str, Any], expect: None) -> ImageNormalizer | TextPipeline: ...


def preprocessor_from_state(
    state: dict[str, Any], expect: Literal["image", "text"] | None = "image"
) -> ImageNormalizer | TextPipeline:
    """Rebuild a fitted preprocessor from its bundle state; `expect` is the kind the caller can use
    (None: any kind)."""
    kind = state.get("kind")
    if kind not in _KINDS:
        raise BundleError(f"unknown preprocessor kind {kind!r} in bundle; this ptft knows: {', '.join(_KINDS)}")
    if expect is not None and kind != expect:
        raise BundleError(
            f"bundle holds a {kind!r} preprocessor but this needs {expect!r} data; use a bundle made from {expect} data"
        )
    if kind == TextPipeline.kind:
        return TextPipeline.from_state(state)
    return ImageNormalizer.from_state(state)


__all__ = ["ImageNormalizer", "Preprocessor", "TextPipeline", "TextTokenizer", "preprocessor_from_state"]

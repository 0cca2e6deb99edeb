"""Fitted, serialisable preprocessors (plain-JSON state, no pickle)."""

from typing import Any

from ptft.errors import BundleError
from ptft.preprocess.image import ImageNormalizer

Preprocessor = ImageNormalizer


def preprocessor_from_state(state: dict[str, Any]) -> Preprocessor:
    kind = state.get("kind")
    if kind == ImageNormalizer.kind:
        return ImageNormalizer.from_state(state)
    raise BundleError(f"unknown preprocessor kind {kind!r} in bundle; this ptft knows: image")


__all__ = ["ImageNormalizer", "Preprocessor", "preprocessor_from_state"]

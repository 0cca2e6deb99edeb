"""The `Preprocessor` protocol every modality's preprocessing keeps, and the registry that rebuilds one from
the plain-JSON state stored in a bundle (scikit-learn's contract: `fit` learns `*_` attributes and returns
self; `state_dict()` is JSON; using it unfitted is a clear error)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from ptft.data.batch import Batch
from ptft.errors import BundleError
from ptft.registry import Registry


@runtime_checkable
class Preprocessor(Protocol):
    kind: str  # the modality it feeds: the name under which PREPROCESSORS rebuilds it

    def fit(self, examples: Any) -> Preprocessor:
        """Learn from the modality's raw content (uint8 images, cleaned texts, ...); returns self."""

    def batch(self, examples: Any, cleaned: bool = False) -> Batch:
        """Raw content -> the model's input for every example. `cleaned`: already cut and cleaned
        (a prepared text corpus)."""

    def state_dict(self) -> dict[str, Any]:
        """Plain JSON that `from_state` turns back into an identical preprocessor."""


PREPROCESSORS: Registry[Callable[[dict[str, Any]], Preprocessor]] = Registry("preprocessor kind")


def preprocessor_from_state(state: dict[str, Any], expect: str | None = None) -> Preprocessor:
    """Rebuild a fitted preprocessor from its bundle state; `expect` is the kind the caller can use
    (None: any kind)."""
    kind = state.get("kind") if isinstance(state, dict) else None
    if not isinstance(kind, str) or kind not in PREPROCESSORS:
        raise BundleError(
            f"unknown preprocessor kind {kind!r} in bundle; this ptft knows: {', '.join(PREPROCESSORS.names())}"
        )
    if expect is not None and kind != expect:
        raise BundleError(
            f"bundle holds a {kind!r} preprocessor but this needs {expect!r} data; use a bundle made from {expect} data"
        )
    return PREPROCESSORS.get(kind)(state)

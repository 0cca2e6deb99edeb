"""ptft: pre-train on the unlabeled data you have, fine-tune on the few labels you can afford."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ptft.version import __version__

if TYPE_CHECKING:  # pragma: no cover
    from ptft.api import FineTuner, Pretrainer, compare, load

__all__ = ["FineTuner", "Pretrainer", "compare", "load", "__version__"]


def __getattr__(name: str) -> Any:
    # Lazy: `import ptft` stays cheap (no torch import) until the API is used.
    if name in ("FineTuner", "Pretrainer", "compare", "load"):
        from ptft import api

        return getattr(api, name)
    raise AttributeError(name)

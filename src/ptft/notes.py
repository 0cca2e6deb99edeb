"""Notes to the user: facts worth saying about their data or run (a class with too few labels, bad lines
skipped), said once per run in ptft's own words and kept in the run's report.

`note(message)` raises a `Note` (a UserWarning, so tests and API users can catch it as one). The CLI
wraps each command in `shown_once()`, which prints every distinct note as one line, `ptft: note: ...`,
without Python's warning machinery or a source line; each job wraps itself in `recorded()`, which keeps
the notes it raised for its bundle (`ptft.json`, "notes") and passes them on to the handler outside.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class Note(UserWarning):
    """Something ptft tells the user; not an error."""


def note(message: str) -> None:
    warnings.warn(message, Note, stacklevel=3)


@contextmanager
def recorded() -> Iterator[list[str]]:
    """The distinct notes raised inside, in order; each still reaches the handler outside."""
    kept: list[str] = []
    outer = warnings.showwarning

    def show(message: Any, category: type[Warning], *where: Any, **more: Any) -> None:
        if issubclass(category, Note) and str(message) not in kept:
            kept.append(str(message))
        outer(message, category, *where, **more)

    with warnings.catch_warnings():
        warnings.simplefilter("always", Note)
        warnings.showwarning = show
        yield kept


@contextmanager
def shown_once() -> Iterator[list[str]]:
    """Inside, each distinct note is printed once to stderr as `ptft: note: ...`; other warnings as usual."""
    shown: list[str] = []
    outer = warnings.showwarning

    def show(message: Any, category: type[Warning], *where: Any, **more: Any) -> None:
        if not issubclass(category, Note):
            outer(message, category, *where, **more)
        elif str(message) not in shown:
            shown.append(str(message))
            print(f"ptft: note: {message}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.simplefilter("always", Note)
        warnings.showwarning = show
        yield shown

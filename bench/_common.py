"""What the benchmark scripts share: the folder their results go to, and writing a result there."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def save_json(name: str, payload: Any) -> Path:
    """`payload` as indented JSON in bench/results/`name` (the folder is made if missing); -> the file."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(payload, indent=2))
    return path

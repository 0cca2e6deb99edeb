"""What the benchmark scripts share: the folder their results go to, writing a result there, and reusing a
finished pre-training."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ptft.config import PretrainConfig, from_dict, to_dict
from ptft.train.checkpoint import MANIFEST
from ptft.train.run_folder import changed_options

RESULTS = Path(__file__).resolve().parent / "results"


def save_json(name: str, payload: Any) -> Path:
    """`payload` as indented JSON in bench/results/`name` (the folder is made if missing); -> the file."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(payload, indent=2))
    return path


def finished_bundle(folder: Path, cfg: PretrainConfig) -> bool:
    """Whether `folder` holds a finished pre-training of `cfg` (where it was written aside), so a benchmark may
    reuse it: the stored config is read back as a config, so an option added to ptft since that run counts as
    its default, as the run did."""
    stored = folder / "config.json"
    if not ((folder / MANIFEST).is_file() and stored.is_file()):
        return False
    before = to_dict(from_dict(PretrainConfig, json.loads(stored.read_text())))
    return not changed_options(before, to_dict(cfg), frozenset({"out", "overwrite", "resume"}))

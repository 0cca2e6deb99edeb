"""What the benchmark scripts share: the folder their results go to, writing a result there, reusing a
finished pre-training, and every summary entry against full fine-tuning."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ptft.config import PretrainConfig, from_dict, to_dict
from ptft.evaluate.stats import paired_difference
from ptft.train.checkpoint import MANIFEST
from ptft.train.run_folder import changed_options

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = RESULTS.parent.parent  # the checkout: paths under it are stored relative to it


def portable(value: Any) -> Any:
    """`value` with every path under the checkout made relative to it (`/home/me/ptft/bench/runs/x` ->
    `bench/runs/x`, `hf:/home/me/ptft/.venv/...` -> `hf:.venv/...`), so a result file reads the same from
    any clone."""
    if isinstance(value, str):
        return value.replace(f"{ROOT}/", "")
    if isinstance(value, dict):
        return {key: portable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [portable(item) for item in value]
    return value


def save_json(name: str, payload: Any) -> Path:
    """`payload` as indented JSON in bench/results/`name` (the folder is made if missing), its paths relative
    to the checkout; -> the file."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(portable(payload), indent=2))
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


def against_full(entries: list[dict[str, Any]], rows: list[dict[str, Any]], reference: str) -> None:
    """Add to each summary entry its paired difference against `reference` (today's default: full fine-tuning
    with a held-out split) at its budget, where `reference` has rows there: `diff_vs_full_holdout` and its CI."""
    for entry in entries:
        k = entry["labels_per_class"]
        seeds = {
            r["seed"]: r["accuracy"] for r in rows if r["method"] == entry["method"] and r["labels_per_class"] == k
        }
        full = {r["seed"]: r["accuracy"] for r in rows if r["method"] == reference and r["labels_per_class"] == k}
        if full and entry["method"] != reference:
            diff = paired_difference(seeds, full)
            entry.update(diff_vs_full_holdout=diff.mean, diff_vs_full_ci_low=diff.low, diff_vs_full_ci_high=diff.high)

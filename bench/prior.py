"""Does moving a fine-tuned model to the pool's class shares (`--prior pool`) help? A `ptft compare` study run with
`--prior pool` keeps, in each fine-tuned cell, the test scores of the same model before the move (`before_prior`),
so one study pairs every model with itself, seed by seed, and nothing is trained twice. Per task and fine-tuned
method: accuracy before and after, and the difference with its 95 % interval (and macro-F1's, which weighs the
rare classes the move can give up as much as the common ones). A task's classes are described by
how unequal their shares are in its test set (the largest share over the smallest), since the move can only help
where the labels' balance (K per class) is not the data's, and by the same ratio of the shares the move estimated
for the pool (what a user sees without test labels).

    .venv/bin/python bench/prior.py --study wordnet-supersenses=bench/runs/minilm-prior \\
        --study letter=bench/runs/prior-tables/letter      (README.md: the studies and all their commands)

Writes bench/results/prior.json (`pairs`: per task, method and budget the two means, the difference, macro-F1's
difference and the shares' ratios; `rows`: every fine-tuned cell; `commands`) and prints the table README.md
shows (bench/readme.py).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import readme
from _common import portable, save_json

from ptft.config import CompareConfig, from_dict
from ptft.evaluate.compare import split_test, starts
from ptft.evaluate.report import command, prior_effects
from ptft.evaluate.stats import Interval, t_interval
from ptft.modalities import read_data


def study(folder: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(its results.json, its fine-tuned rows, named with their start): a finished --prior pool study."""
    path = folder / "results.json"
    if not path.is_file():
        raise SystemExit(f"{path}: no such file; run (or finish) the study first")
    results = json.loads(path.read_text())
    if results["config"].get("prior") != "pool":
        raise SystemExit(f"{folder}: a study run without --prior pool has nothing to pair; run it with --prior pool")
    named = {source: name for name, source in starts(tuple(results["config"].get("pretrained", []))).items()}
    rows = []
    for r in results["rows"]:
        if r["kind"] == "finetune":  # a study of one start names its rows `full`: here they say which (full[minilm])
            start = named.get(r["pretrained"])
            rows.append({**r, "method": f"{r['method']}[{start}]" if start and "[" not in r["method"] else r["method"]})
    if not any("before_prior" in r for r in rows):
        raise SystemExit(f"{folder}: its cells keep no scores from before the move (a study of an older ptft)")
    return results, rows


def imbalance(results: dict[str, Any]) -> float:
    """The largest class share over the smallest in the study's test set (its --test, or the part of --data
    compare held out)."""
    cfg = from_dict(CompareConfig, results["config"])
    test = split_test(cfg, read_data(cfg.data, cfg.data_dir, cfg.reader))[1]
    counts = np.bincount(test.labels[test.labels >= 0])
    return float(counts.max() / counts[counts > 0].min())


def pairs(task: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (method, budget): the means before and after the move, after − before paired by seed, and the mean
    largest / smallest share the move estimated for the pool."""
    out = []
    for effect in prior_effects(rows):  # only cells with before_prior (a resumed study may hold older ones too)
        diff, cells = effect["diff"], effect["cells"]
        ratio = float(np.mean([max(r["prior"]["pool"]) / min(r["prior"]["pool"]) for r in cells]))
        f1 = effect["macro_f1_diff"]  # the rare classes' side
        out.append({"task": task, "method": effect["method"], "labels_per_class": effect["labels_per_class"],
                    "seeds": diff.n, "without": t_interval(list(effect["before"].values())).mean,
                    "with": t_interval(list(effect["after"].values())).mean, "diff": diff.mean,
                    "diff_ci": _bounds(diff), "macro_f1_diff": f1.mean, "macro_f1_diff_ci": _bounds(f1),
                    "estimated_imbalance": ratio})  # fmt: skip
    return out


def _bounds(interval: Interval) -> list[float] | None:
    """An interval's bounds; None from one seed, which has none (JSON has no NaN)."""
    return [interval.low, interval.high] if interval.n > 1 else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", action="append", required=True, help="TASK=STUDY (a --prior pool study)")
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    found: list[dict[str, Any]] = []
    shares: dict[str, float] = {}
    commands = []
    for spec in args.study:
        task, _, folder = spec.partition("=")
        results, cells = study(Path(folder))
        shares[task] = imbalance(results)
        found += pairs(task, cells)
        rows += [{"task": task, **c} for c in cells]
        commands.append(command(results))
    save_json("prior.json", portable({"pairs": found, "imbalance": shares, "rows": rows, "commands": commands}))
    print(readme.prior())


if __name__ == "__main__":
    main()

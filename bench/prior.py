"""Does moving a fine-tuned model to the pool's class shares (`--prior pool`) help? Per task, two compare
studies that differ in `--prior` alone (the same command, the same labels per seed): each fine-tuned method
with and without it, and the paired difference with its 95 % interval. A task's classes are also described
by how unequal their shares are in its test set (the largest share over the smallest), since the shift can
only help where the labels' balance (K per class) is not the data's.

    .venv/bin/python bench/prior.py \\
        --pair wordnet-supersenses=bench/runs/minilm-st-fixed-ema,bench/runs/minilm-st-fixed-ema-prior \\
        --pair letter=bench/runs/ema-letter/fixed,bench/runs/ema-letter/fixed-prior

Writes bench/results/prior.json (`rows`: every cell of both studies with its task and prior; `pairs`: per task
and method the two means and the difference) and prints the table README.md shows (bench/readme.py).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import readme
from _common import portable, save_json

from ptft.config import DataConfig
from ptft.evaluate.compare import starts
from ptft.evaluate.report import command
from ptft.evaluate.stats import paired_difference, t_interval
from ptft.modalities import read_data


def study(folder: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(its results.json, its fine-tuned rows): a finished compare study."""
    path = folder / "results.json"
    if not path.is_file():
        raise SystemExit(f"{path}: no such file; run (or finish) the study first")
    results = json.loads(path.read_text())
    named = {source: name for name, source in starts(tuple(results["config"].get("pretrained", []))).items()}
    rows = []
    for r in results["rows"]:
        if r["kind"] == "finetune":  # a study of one start names its rows `full`: here they say which (full[minilm])
            start = named.get(r["pretrained"])
            rows.append({**r, "method": f"{r['method']}[{start}]" if start and "[" not in r["method"] else r["method"]})
    return results, rows


def imbalance(test: str) -> float:
    """The largest class share over the smallest in the test set `test`."""
    labels = read_data(test, "", DataConfig(), True).labels
    counts = np.bincount(labels[labels >= 0])
    return float(counts.max() / counts[counts > 0].min())


def pair_rows(task: str, without: list[dict[str, Any]], with_: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (method, budget): the two means and with − without, paired by seed; a seed whose two cells did not
    train on the same labelled examples stops the script."""
    out = []
    for method, k in dict.fromkeys((c["method"], c["labels_per_class"]) for c in with_):
        a = {c["seed"]: c for c in with_ if (c["method"], c["labels_per_class"]) == (method, k)}
        b = {c["seed"]: c for c in without if (c["method"], c["labels_per_class"]) == (method, k)}
        for seed in set(a) & set(b):
            if a[seed]["labelled"] != b[seed]["labelled"]:
                raise SystemExit(f"{task} {method} K={k} seed {seed}: the two studies drew other labels; not paired")
        if not set(a) & set(b):
            continue
        diff = paired_difference({s: c["accuracy"] for s, c in a.items()}, {s: c["accuracy"] for s, c in b.items()})
        means = [t_interval([c["accuracy"] for s, c in d.items() if s in b and s in a]).mean for d in (b, a)]
        out.append({"task": task, "method": method, "labels_per_class": k, "seeds": diff.n, "without": means[0],
                    "with": means[1], "diff": diff.mean, "diff_ci": [diff.low, diff.high]})  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pair", action="append", required=True, help="TASK=STUDY_WITHOUT,STUDY_WITH")
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    pairs: list[dict[str, Any]] = []
    shares: dict[str, float] = {}
    commands = []
    for spec in args.pair:
        task, folders = spec.split("=", 1)
        (results_a, without), (results_b, with_) = (study(Path(f)) for f in folders.split(","))
        if (results_a["config"].get("prior", "labels"), results_b["config"].get("prior")) != ("labels", "pool"):
            raise SystemExit(f"{spec}: give the study without --prior pool first, then the one with it")
        shares[task] = imbalance(results_b["config"]["test"])
        pairs += pair_rows(task, without, with_)
        rows += [{"task": task, "prior": prior, **c} for prior, cells in (("labels", without), ("pool", with_))
                 for c in cells]  # fmt: skip
        commands += [command(results_a), command(results_b)]
    save_json("prior.json", portable({"pairs": pairs, "imbalance": shares, "rows": rows, "commands": commands}))
    print(readme.prior())


if __name__ == "__main__":
    main()

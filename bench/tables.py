"""Tables through `ptft compare`: does pre-training on the rows beat what a tabular user would fit?

For each built-in table (`letter`, `income`), one time-boxed pre-training per start (the MLP with masked-cell
modelling and with SCARF, the FT-Transformer with masked cells), then two compare studies on the same labelled
rows per (budget, seed), so every row pairs with every other: the MLP study (logistic regression, LightGBM,
k-NN, the MLP from scratch, each MLP start fine-tuned by --methods) and the FT-Transformer study (from scratch
and its start). Rows are named as in compare (`full[mlp-masked-cells]`), scratch as `scratch-mlp` and
`scratch-ft-transformer`. Writes bench/results/tables.json (`rows`: dataset, method, labels_per_class, seed,
accuracy, macro_f1, pretrain_minutes; `summary`: per dataset, method and budget the mean with its 95 %
interval and the paired difference to the best baseline) and bench/results/compare_<dataset>.json (the MLP
study's results.json, compare's own format).

With --validation the studies test on a seeded 20 % of each table's training split instead of its test
split: that is how the demo's settings were chosen (no test row is used), written to tables_validation.json.

    .venv/bin/python bench/tables.py --minutes 3 --labels 5 10 50 --seeds 5
    .venv/bin/python bench/tables.py --validation --labels 10 --seeds 3
"""

from __future__ import annotations

import argparse
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from _common import RESULTS, finished_bundle, save_json

import ptft
from ptft.api import Pretrainer
from ptft.config import CompareConfig, ModelConfig
from ptft.demo import FT_MODEL, TABLE_MODEL, tasks
from ptft.evaluate.stats import paired_difference, t_interval
from ptft.modalities import read_data

HERE = Path(__file__).resolve().parent
STARTS = {  # name -> (model, objective)
    "mlp-masked-cells": (TABLE_MODEL, "masked-cells"),
    "mlp-scarf": (TABLE_MODEL, "scarf"),
    "ft-masked-cells": (FT_MODEL, "masked-cells"),
}
BASELINES = ("logreg", "lightgbm", "knn")


def pretrained(dataset: str, name: str, minutes: float, folder: Path) -> str:
    """Start `name` pre-trained for `minutes` on the dataset's training rows; a finished bundle of the same
    config is reused."""
    model, objective = STARTS[name]
    task = tasks()[dataset]
    loop = replace(task.pretrain.loop, max_minutes=minutes, progress=False)
    cfg = replace(task.pretrain, model=model, objective=objective, loop=loop, out=str(folder), overwrite=True)
    if finished_bundle(folder, cfg):
        print(f"{dataset} {name}: reusing {folder}")
        return str(folder)
    print(f"{dataset} {name}: pre-training ({objective}, {model.encoder}) for {minutes:g} min ...", flush=True)
    trainer = Pretrainer(cfg).fit(read_data(task.compare.data))
    probe = trainer.result.last_eval.get("knn_accuracy")
    print(f"    {trainer.result.steps} steps, k-NN probe {probe}", flush=True)
    return str(trainer.run_dir)


def study(base: CompareConfig, out: Path, model: ModelConfig, starts: dict[str, str], methods: tuple[str, ...],
          args: argparse.Namespace) -> dict[str, Any]:  # fmt: skip
    cfg = replace(
        base, model=model, pretrained=tuple(f"{k}={v}" for k, v in starts.items()), methods=methods,
        labels_per_class=tuple(args.labels), seeds=args.seeds, out=str(out), resume=(out / "config.json").is_file(),
        test="" if args.validation else base.test,
    )  # fmt: skip
    return ptft.compare(cfg)


def rows_of(dataset: str, results: dict[str, Any], scratch: str, starts: list[str], minutes: float) -> list[dict]:
    """The bench's rows of one study: scratch named by its encoder, a method of a lone start named with it (compare
    leaves the name out when a study has one start)."""
    out = []
    for r in results["rows"]:
        method = scratch if r["method"] == "scratch" else r["method"]
        if "[" not in method and method not in (*BASELINES, scratch) and len(starts) == 1:
            method = f"{method}[{starts[0]}]"
        pretrain_minutes = minutes if "[" in method else 0.0
        out.append({"dataset": dataset, "method": method, "labels_per_class": r["labels_per_class"], "seed": r["seed"],
                    "accuracy": r["accuracy"], "macro_f1": r["macro_f1"], "pretrain_minutes": pretrain_minutes})
    return out  # fmt: skip


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per dataset, budget and method: mean with its interval, and the paired difference to the best baseline."""
    summary = []
    for dataset, k in sorted({(r["dataset"], r["labels_per_class"]) for r in rows}):
        cell = [r for r in rows if r["dataset"] == dataset and r["labels_per_class"] == k]
        by: dict[str, dict[int, float]] = {}
        for r in cell:
            by.setdefault(r["method"], {})[r["seed"]] = r["accuracy"]
        means = {m: sum(v.values()) / len(v) for m, v in by.items()}
        best = max((m for m in BASELINES if m in by), key=lambda m: means[m])
        for method, scores in by.items():
            mean = t_interval(list(scores.values()))
            diff = paired_difference(scores, by[best])
            gain = {"mean": diff.mean, "ci_low": diff.low, "ci_high": diff.high}
            summary.append({"dataset": dataset, "method": method, "labels_per_class": k, "mean": mean.mean,
                            "ci_low": mean.low, "ci_high": mean.high, "best_baseline": best,
                            "vs_best_baseline": gain})  # fmt: skip
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["letter", "income"], choices=["letter", "income"])
    parser.add_argument("--labels", type=int, nargs="+", default=[5, 10, 50], help="labelled rows per class in all")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--minutes", type=float, default=3.0, help="pre-training minutes per start")
    parser.add_argument("--starts", nargs="+", default=list(STARTS), choices=list(STARTS))
    parser.add_argument("--methods", nargs="+", default=["linear", "full", "lp-ft", "self-train"])
    parser.add_argument("--ft-methods", nargs="*", default=None, help="for the FT-Transformer start; default --methods")
    parser.add_argument("--validation", action="store_true", help="test on a part of the training split")
    parser.add_argument("--out", default=str(HERE / "runs" / "tables"))
    args = parser.parse_args()
    root = Path(args.out) / ("validation" if args.validation else "test")
    rows: list[dict[str, Any]] = []
    for dataset in args.datasets:
        folder = Path(args.out) / dataset
        starts = {n: pretrained(dataset, n, args.minutes, folder / f"pretrain-{n}-{args.minutes:g}min")
                  for n in args.starts}  # fmt: skip
        base = tasks()[dataset].compare
        groups = {"mlp": (TABLE_MODEL, "scratch-mlp"), "ft": (FT_MODEL, "scratch-ft-transformer")}
        for group, (model, scratch) in groups.items():
            mine = {n: s for n, s in starts.items() if n.startswith(group)}
            chosen = args.ft_methods if group == "ft" and args.ft_methods is not None else args.methods
            tuned = (f"{m}[{n}]" for n in mine for m in chosen)
            methods = (*(BASELINES if group == "mlp" else ()), "scratch", *tuned)
            results = study(base, root / dataset / group, model, mine, methods, args)
            rows += rows_of(dataset, results, scratch, list(mine), args.minutes)
            if group == "mlp" and not args.validation:
                save_json(f"compare_{dataset}.json", results)
                shutil.copy(root / dataset / group / "report.html", RESULTS / f"compare_{dataset}.html")
    summary = summarise(rows)
    name = "tables_validation.json" if args.validation else "tables.json"
    print(f"wrote {save_json(name, {'rows': rows, 'summary': summary, 'minutes': args.minutes})}")
    for s in summary:
        d = s["vs_best_baseline"]
        print(f"{s['dataset']:7} K={s['labels_per_class']:<3} {s['method']:32} {100 * s['mean']:5.1f} "
              f"[{100 * s['ci_low']:5.1f}, {100 * s['ci_high']:5.1f}]  vs {s['best_baseline']}: "
              f"{100 * d['mean']:+5.1f} [{100 * d['ci_low']:+5.1f}, {100 * d['ci_high']:+5.1f}]")  # fmt: skip


if __name__ == "__main__":
    main()

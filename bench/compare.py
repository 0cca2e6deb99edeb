"""The label-efficiency benchmark through `ptft compare`: paired seeds, 95 % intervals, both selections.

For a task, one time-boxed pre-training (or --pretrained, an existing bundle), then `ptft compare` with
the methods given, once with `--select holdout` and, for --kfold-methods, once with `--select kfold`
(rows named `<method>+kfold`), on the task's official test set. Writes bench/results/compare_<task>.json
(`rows`: task, method, labels_per_class, seed, accuracy, macro_f1, ...; `summary`: task, method,
labels_per_class, mean, ci_low, ci_high, diff_vs_scratch, diff_ci_low, diff_ci_high) and copies each
study's report.html into bench/results/.

    .venv/bin/python bench/compare.py --task fashion-mnist --labels 10 100 --seeds 5
    .venv/bin/python bench/compare.py --task fashion-mnist --pretrained runs/demo-fashion-mnist/pretrain \\
        --labels 20 --seeds 5 --methods logreg scratch linear full llrd lp-ft --kfold-methods scratch full

The task's peers (another tool's own method: `setfit` for text, `lightgbm` for tables; Fashion-MNIST has none)
join the held-out study's methods unless --no-peers; a peer that is not installed is left out with a note.
bench/peers.py pairs a peer study run on its own with the rows written here.
"""

from __future__ import annotations

import argparse
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from _common import RESULTS, against_full, save_json

import ptft
from ptft.api import Pretrainer
from ptft.config import PretrainConfig
from ptft.demo import PRETRAINED, tasks
from ptft.modalities import modality_for, read_data

HERE = Path(__file__).resolve().parent


def study(
    args: argparse.Namespace, pretrained: str, methods: list[str], select: str, out: Path, budgets: list[int]
) -> dict[str, Any]:
    base = tasks()[args.task].compare  # the demo's fine-tuning loop, rates and starts (MiniLM when installed)
    cfg = replace(
        base, pretrained=(f"{PRETRAINED}={pretrained}", *base.pretrained), methods=tuple(methods),
        labels_per_class=tuple(budgets), seeds=args.seeds, select=select, out=str(out), resume=out.exists(),
    )  # fmt: skip
    return ptft.compare(cfg)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="fashion-mnist", choices=list(tasks()))
    parser.add_argument("--labels", type=int, nargs="+", default=[20], help="labelled examples per class in all")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--pretrained", default="", help="an existing bundle; '' = pre-train now")
    parser.add_argument("--pretrain-minutes", type=float, default=15.0)
    parser.add_argument("--methods", nargs="+", default=["logreg", "scratch", "linear", "full", "llrd", "lp-ft"])
    parser.add_argument("--kfold-methods", nargs="*", default=["scratch", "full"])
    parser.add_argument("--kfold-labels", type=int, nargs="*", default=None, help="budgets of the k-fold study")
    parser.add_argument("--no-peers", action="store_true", help="leave out the task's peers (setfit, lightgbm)")
    parser.add_argument("--out", default=str(HERE / "runs" / "compare"))
    args = parser.parse_args()
    task_cfg = tasks()[args.task].compare
    modality = modality_for(task_cfg.data, task_cfg.reader)
    peers = [] if args.no_peers else [n for n, b in modality.baselines.items() if b.peer and n not in args.methods]
    args.methods = [*args.methods, *peers]
    out = Path(args.out) / args.task
    pretrained = args.pretrained
    if not pretrained:
        task = tasks()[args.task]
        loop = replace(task.pretrain.loop, max_minutes=args.pretrain_minutes, progress=False)
        pre = replace(task.pretrain, out=str(out / "pretrain"), overwrite=True, loop=loop)
        assert isinstance(pre, PretrainConfig)
        pretrained = str(Pretrainer(pre).fit(read_data(task.compare.data)).run_dir)
    rows, summary = [], []
    for select, methods, budgets in (
        ("holdout", args.methods, args.labels),
        ("kfold", args.kfold_methods, args.labels if args.kfold_labels is None else args.kfold_labels),
    ):
        if not methods or not budgets:
            continue
        results = study(args, pretrained, methods, select, out / select, budgets)
        suffix = "" if select == "holdout" else "+kfold"
        rows += [{"task": args.task, **r, "method": r["method"] + suffix, "select": select} for r in results["rows"]]
        summary += [
            {"task": args.task, **s, "method": s["method"] + suffix, "select": select,
             "diff_ci_low": s["diff_vs_scratch_ci_low"], "diff_ci_high": s["diff_vs_scratch_ci_high"]}
            for s in results["summary"]
        ]  # fmt: skip
        shutil.copy(out / select / "report.html", RESULTS / f"compare_{args.task}_{select}.html")
        for verdict in results["verdicts"]:
            print(f"[{select}] K={verdict['labels_per_class']}: " + "; ".join(verdict["sentences"]))
    reference = "full" if any(r["method"] == "full" for r in rows) else f"full[{PRETRAINED}]"
    against_full(summary, rows, reference)  # every row against today's default: full with a held-out split
    for entry in (e for e in summary if "diff_vs_full_holdout" in e):
        print(f"  K={entry['labels_per_class']} {entry['method']:<16} vs {reference} (holdout): "
              f"{100 * entry['diff_vs_full_holdout']:+.1f} points [{100 * entry['diff_vs_full_ci_low']:+.1f}, "
              f"{100 * entry['diff_vs_full_ci_high']:+.1f}]")  # fmt: skip
    path = save_json(f"compare_{args.task}.json", {"rows": rows, "summary": summary, "pretrained": pretrained})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

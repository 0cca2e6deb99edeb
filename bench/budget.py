"""Accuracy against compute: what each CPU-minute of pre-training buys at a few labels, through `ptft compare`.

For a task, the demo's pre-training (objective, model, loop) is run once per budget of minutes, each its own
run as a user would start it (`ptft pretrain --max-minutes M`: the one-cycle schedule is fitted to M), and
one compare study then fine-tunes every bundle (`full[<M>min]`) beside scratch and the task's baselines on
the same labelled sets, 5 seeds, the demo's fine-tuning loop and selection. A finished bundle whose config
matches is reused, and the study grows with `--resume`, so a longer budget adds only its own work. Writes
bench/results/budget.json: `rows` (task, method, pretrain_minutes, labels_per_class, seed, accuracy,
macro_f1; scratch and baselines at 0 minutes) and `gains` (per budget: the paired gain over scratch and
over the best baseline with 95 % intervals), and bench/results/budget_<task>.png, the curve.

    .venv/bin/python bench/budget.py --task fashion-mnist --minutes 1 3 10
    .venv/bin/python bench/budget.py --task wordnet-supersenses --minutes 1 3 10 --also self-train label-prop
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from _common import RESULTS, finished_bundle, save_json  # noqa: E402

import ptft  # noqa: E402
from ptft.api import Pretrainer  # noqa: E402
from ptft.demo import Task, tasks  # noqa: E402
from ptft.evaluate.stats import paired_difference, t_interval  # noqa: E402
from ptft.modalities import read_data  # noqa: E402

HERE = Path(__file__).resolve().parent
LABELS = {"fashion-mnist": 20, "wordnet-supersenses": 64, "wordnet-verb-supersenses": 32, "letter": 10}  # the demos'
# (Fashion-MNIST and WordNet nouns: issue #11's 10 and 32 per class, plus as many again to select with; letter:
# 10 in all, selected by k-fold)
BASELINES = {"fashion-mnist": ["logreg"], "wordnet-supersenses": ["tfidf-logreg"],
             "wordnet-verb-supersenses": ["tfidf-logreg"], "letter": ["logreg", "lightgbm", "knn"]}  # fmt: skip


def start_name(objective: str, default: str, minutes: float) -> str:
    """A bundle's name in the study: `3min` with the task's objective, `simcse-3min` with another."""
    return f"{minutes:g}min" if objective == default else f"{objective}-{minutes:g}min"


def parse_row(method: str, default: str) -> tuple[str, str, float] | None:
    """A compare row's name -> (strategy, objective, minutes): `full[simcse-3min]` -> ('full', 'simcse', 3.0);
    None for a baseline or scratch."""
    strategy, bracket, start = method.partition("[")
    if not bracket:
        return None
    objective, _, minutes = start.removesuffix("]").rpartition("-")
    return strategy, objective or default, float(minutes.removesuffix("min"))


def grown(study: Path, key: str, new: tuple[str, ...]) -> tuple[str, ...]:
    """The study's earlier `key` entries (its starts, its methods), then the new ones: a run adds to the study
    and never drops what an earlier run put there (compare's --resume refuses a dropped start)."""
    stored = study / "config.json"
    old = tuple(json.loads(stored.read_text())[key]) if stored.is_file() else ()
    return (*old, *(x for x in new if x not in old))


def pretrained(task: Task, minutes: float, folder: Path) -> str:
    """The task's pre-training with a budget of `minutes`, reused when a finished bundle with its config is there."""
    loop = replace(task.pretrain.loop, max_minutes=minutes, progress=False)
    cfg = replace(task.pretrain, loop=loop, out=str(folder), overwrite=True)
    if finished_bundle(folder, cfg):
        print(f"{folder.name}: reusing {folder}")
        return str(folder)
    print(f"{folder.name}: pre-training ({cfg.objective}, {cfg.model.encoder}) into {folder} ...")
    Pretrainer(cfg).fit(read_data(task.compare.data, options=task.compare.reader))
    return str(folder)


def gains(rows: list[dict[str, Any]], baselines: list[str]) -> list[dict[str, Any]]:
    """Per budget of minutes: the paired gain over scratch and over the best baseline (by mean accuracy)."""

    def seeds(method: str, objective: str = "", minutes: float = 0.0) -> dict[int, float]:
        return {r["seed"]: r["accuracy"] for r in rows
                if (r["method"], r["objective"], r["pretrain_minutes"]) == (method, objective, minutes)}  # fmt: skip

    best = max(baselines, key=lambda b: _mean(list(seeds(b).values())))
    out = []
    for method, objective, minutes in sorted(
        {(r["method"], r["objective"], r["pretrain_minutes"]) for r in rows if r["pretrain_minutes"] > 0}
    ):
        mine = seeds(method, objective, minutes)
        entry: dict[str, Any] = {"method": method, "objective": objective, "pretrain_minutes": minutes,
                                 "accuracy": _mean(list(mine.values()))}  # fmt: skip
        for rival in ("scratch", best):
            diff = paired_difference(mine, seeds(rival))
            key = "scratch" if rival == "scratch" else "best_baseline"
            entry.update({f"gain_vs_{key}": diff.mean, f"gain_vs_{key}_ci": [diff.low, diff.high]})
        out.append({**entry, "best_baseline": best})
    return out


def plot(task: str, rows: list[dict[str, Any]], baselines: list[str], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 3.6))
    tuned = [r for r in rows if r["pretrain_minutes"] > 0]
    for method, objective in sorted({(r["method"], r["objective"]) for r in tuned}):
        mine = [r for r in tuned if (r["method"], r["objective"]) == (method, objective)]
        minutes = sorted({r["pretrain_minutes"] for r in mine})
        spans = [t_interval([r["accuracy"] for r in mine if r["pretrain_minutes"] == m]) for m in minutes]
        means = [100 * s.mean for s in spans]
        bars = [[100 * (s.mean - s.low) for s in spans], [100 * (s.high - s.mean) for s in spans]]
        ax.errorbar(minutes, means, yerr=bars, marker="o", capsize=3, label=f"{method} after M minutes of {objective}")
    for rival, style in zip(["scratch", *baselines], ["--", ":", "-.", (0, (1, 4))], strict=False):
        level = 100 * _mean([r["accuracy"] for r in rows if r["method"] == rival])
        ax.axhline(level, linestyle=style, color="grey", label=f"{rival} ({level:.1f} %)")
    ticks = sorted({r["pretrain_minutes"] for r in tuned})
    ax.set_xscale("log")
    ax.set_xticks(ticks, [f"{m:g}" for m in ticks])
    ax.minorticks_off()
    ax.set_xlabel("pre-training, CPU minutes (2 cores)")
    ax.set_ylabel("test accuracy, %")
    seeds = len({r["seed"] for r in rows})
    ax.set_title(f"{task}:\n{rows[0]['labels_per_class']} labels per class in all, {seeds} seeds, 95 % CI", fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def in_place(kept: list[dict[str, Any]], new: list[dict[str, Any]], task: str) -> list[dict[str, Any]]:
    """The stored entries with `task`'s replaced by `new`, where its old ones stood (at the end for a new task),
    so a re-run of one task leaves the order of the tasks, and of the README's table, as it was."""
    order = list(dict.fromkeys([*(r["task"] for r in kept), task]))
    return [r for t in order for r in (new if t == task else [r for r in kept if r["task"] == t])]


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="fashion-mnist", choices=list(LABELS))
    parser.add_argument("--minutes", type=float, nargs="+", default=[1, 3, 10, 30, 60])
    parser.add_argument("--labels", type=int, default=None, help="labelled examples per class in all")
    parser.add_argument("--methods", nargs="+", default=["full"], help="strategies run from every bundle")
    parser.add_argument("--also", nargs="*", default=[], help="strategies run from the longest budget's bundle only")
    parser.add_argument("--objective", default="", help="'' = the demo's (simclr, mlm); another joins the same study")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--out", default=str(HERE / "runs" / "budget"))
    args = parser.parse_args()
    task, out = tasks()[args.task], Path(args.out) / args.task
    labels, default = args.labels or LABELS[args.task], task.pretrain.objective
    objective = args.objective or default
    if objective != default:  # its own options' defaults (the task's mask ratio is MLM's)
        task = replace(task, pretrain=replace(task.pretrain, objective=objective, mask_ratio=None))
    names = {m: start_name(objective, default, m) for m in args.minutes}
    bundles = {names[m]: pretrained(task, m, out / f"pretrain-{names[m]}") for m in args.minutes}
    methods: list[str] = [f"{s}[{names[m]}]" for m in args.minutes for s in args.methods]
    methods += [f"{s}[{names[max(args.minutes)]}]" for s in args.also]
    baselines, folder = BASELINES[args.task], out / "compare"
    starts = grown(folder, "pretrained", tuple(f"{n}={b}" for n, b in bundles.items()))
    if len(starts) < 2:  # compare names a one-start study's rows without their start (`full`, not `full[3min]`)
        parser.error("a budget study needs two budgets or more to start with (e.g. --minutes 1 3)")
    study = replace(
        task.compare, pretrained=starts,
        labels_per_class=(labels,), methods=grown(folder, "methods", (*baselines, "scratch", *methods)),
        seeds=args.seeds, out=str(folder), resume=folder.exists(),
    )  # fmt: skip
    results = ptft.compare(study, data=read_data(task.compare.data, options=task.compare.reader))
    rows = []
    for r in results["rows"]:
        strategy, trained_by, minutes = parse_row(r["method"], default) or (r["method"], "", 0.0)
        rows.append({"task": args.task, "method": strategy, "objective": trained_by, "pretrain_minutes": minutes,
                     "labels_per_class": r["labels_per_class"], "seed": r["seed"], "accuracy": r["accuracy"],
                     "macro_f1": r["macro_f1"]})  # fmt: skip
    table = gains(rows, baselines)
    print(f"{args.task}, {labels} labels per class, {args.seeds} seeds, after M minutes of pre-training:")
    for g in table:
        (s_lo, s_hi), (b_lo, b_hi) = g["gain_vs_scratch_ci"], g["gain_vs_best_baseline_ci"]
        print(f"  {g['method']:<12} {g['objective']:<8} {g['pretrain_minutes']:>5g} min  {100 * g['accuracy']:.1f} %  "
              f" vs scratch "
              f"{100 * g['gain_vs_scratch']:+.1f} [{100 * s_lo:+.1f}, {100 * s_hi:+.1f}]   vs {g['best_baseline']} "
              f"{100 * g['gain_vs_best_baseline']:+.1f} [{100 * b_lo:+.1f}, {100 * b_hi:+.1f}]")  # fmt: skip
    path = RESULTS / "budget.json"
    kept = json.loads(path.read_text()) if path.is_file() else {"rows": [], "gains": []}
    payload = {key: in_place(kept[key], new, args.task)
               for key, new in (("rows", rows), ("gains", [{"task": args.task, **g} for g in table]))}  # fmt: skip
    figure = plot(task.title, rows, baselines, RESULTS / f"budget_{args.task}.png")
    print(f"wrote {save_json('budget.json', payload)} and {figure}")


if __name__ == "__main__":
    main()

"""Which step should k-fold selection give the final fit? `ptft compare` runs a fine-tuning on each of k folds
and fits all K for steps read from them (per stage, `ptft.evaluate.compare.picked_steps`): the *median* of
the folds' best validation steps, or the step where the folds' *mean* validation curve peaks (every fold
evaluates at the same steps, so the mean scores each step on all K examples at once, where a fold's own best
step rests on K/k examples per class: 1-2 at K = 8).

For every k-fold cell of finished compare studies, this script reads the folds' curves from their logs
(`fold-i/logs/metrics.jsonl`, a later stage's in `fold-i/stage-j-NAME/logs/`), computes both picks, and
where the rule the study did not use picks other steps it fits the final model again at those (the cell's
own final config, only the steps changed; a refit at the study's own steps reproduces its accuracy) and
scores it on the study's test set. It prints, per study, method and budget, both rules' mean accuracy and
the paired difference with its 95 % interval, and writes bench/results/kfold_rule.json.

    .venv/bin/ptft demo --task letter --out runs/kr/letter
    .venv/bin/ptft demo --task income --pretrain-minutes 3 --out runs/kr/income
    .venv/bin/python bench/kfold_rule.py --study runs/kr/letter/compare --study runs/kr/income/compare
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from _common import save_json

from ptft.config import CompareConfig, FinetuneConfig, from_dict
from ptft.evaluate.compare import (
    CELLS_FILE,
    cell_dir,
    finished_cells,
    picked_steps,
    split_test,
    without_test_copies,
)
from ptft.evaluate.stats import paired_difference
from ptft.finetune.job import run_finetune
from ptft.modalities import modality_of, read_data

RULES = ("median", "mean-curve")  # ptft.evaluate.compare.KFOLD_PICK's choices

Curve = list[list[float]]  # [step, validation score] at every evaluation (higher is better)


def read_curve(logs: Path) -> Curve:
    """The validation scores a run logged, by step: read from the logs, which every study has (a fold's metrics
    carry the same curve only since the curves were kept there)."""
    curve: Curve = []
    for line in (logs / "metrics.jsonl").read_text().splitlines():
        entry = json.loads(line)
        scores = [v for k, v in entry.items() if k.startswith("val_")]
        if scores:
            curve.append([int(entry["step"]), float(scores[0])])
    return curve


def fold_curves(cell: Path, folds: int) -> list[list[Curve]]:
    """Per fold, the curve of each stage, in stage order."""
    out = []
    for fold in range(folds):
        root = cell / f"fold-{fold}"
        later = sorted(root.glob("stage-*/logs"), key=lambda p: int(p.parent.name.split("-")[1]))
        out.append([read_curve(logs) for logs in [root / "logs", *later]])
    return out


def study_cells(study: Path) -> tuple[CompareConfig, list[dict[str, Any]]]:
    cfg = from_dict(CompareConfig, json.loads((study / "config.json").read_text()))
    rows = [r for r in finished_cells(study / CELLS_FILE).values() if r.get("select") == "kfold"]
    return cfg, rows


def refit(study: Path, row: dict[str, Any], rule: str, steps: list[int], train: Any, test: Any) -> float:
    """The cell's final fit again, each stage run for `steps` (the pick of `rule`); -> its test accuracy."""
    cell = cell_dir(study, row["method"], row["labels_per_class"], row["seed"])
    final = from_dict(FinetuneConfig, json.loads((cell / "final" / "config.json").read_text()))
    final = replace(final, out=str(cell / f"final-{rule}"), overwrite=True,
                    loop=replace(final.loop, steps=sum(steps)),
                    stage_steps=tuple(steps) if len(steps) > 1 else ())  # fmt: skip
    return float(run_finetune(final, train).model.evaluate(test)["accuracy"])


def compare_rules(study: Path) -> list[dict[str, Any]]:
    cfg, rows = study_cells(study)
    loaded = read_data(cfg.data, cfg.data_dir, cfg.reader)
    train, test, _ = split_test(cfg, loaded)
    train, _ = without_test_copies(modality_of(loaded), train, test)
    out = []
    for row in sorted(rows, key=lambda r: (r["method"], r["labels_per_class"], r["seed"])):
        best = [b if isinstance(b, list) else [b] for b in row["fold_best_steps"]]
        curves = fold_curves(cell_dir(study, row["method"], row["labels_per_class"], row["seed"]), row["folds"])
        steps = {rule: picked_steps(best, curves, rule) for rule in RULES}
        used = row.get("pick", "median")  # studies before the rule was recorded used the median
        accuracy = {used: row["accuracy"]}
        for rule in RULES:
            if rule != used:
                same = steps[rule] == steps[used]
                accuracy[rule] = row["accuracy"] if same else refit(study, row, rule, steps[rule], train, test)
        out.append({"study": str(study), "task": cfg.data, "method": row["method"], "seed": row["seed"],
                    "labels_per_class": row["labels_per_class"], "study_rule": used,
                    **{f"{rule}_steps": steps[rule] for rule in RULES},
                    **{f"accuracy_{rule}": accuracy[rule] for rule in RULES}})  # fmt: skip
        shown = ", ".join(f"{rule} {steps[rule]} {100 * accuracy[rule]:.1f} %" for rule in RULES)
        print(f"{cfg.data} {row['method']} K={row['labels_per_class']} seed {row['seed']}: {shown}", flush=True)
    return out


def table(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["task"], r["method"], r["labels_per_class"]), []).append(r)
    summary = []
    for (task, method, k), cells in groups.items():
        old = {r["seed"]: r["accuracy_median"] for r in cells}
        new = {r["seed"]: r["accuracy_mean-curve"] for r in cells}
        diff = paired_difference(new, old)
        summary.append({"task": task, "method": method, "labels_per_class": k, "seeds": len(cells),
                        "changed": sum(r["median_steps"] != r["mean-curve_steps"] for r in cells),
                        "median": float(np.mean(list(old.values()))), "mean_curve": float(np.mean(list(new.values()))),
                        "diff": diff.mean, "diff_ci": [diff.low, diff.high]})  # fmt: skip
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", action="append", required=True, type=Path, help="a finished compare study")
    args = parser.parse_args()
    rows = [r for study in args.study for r in compare_rules(study)]
    summary = table(rows)
    print("\n| task | method | K | seeds | picks changed | median rule % | mean-curve rule % | mean-curve − median |")
    print("|---|---|---|---|---|---|---|---|")
    for s in summary:
        low, high = s["diff_ci"]
        print(f"| {s['task']} | `{s['method']}` | {s['labels_per_class']} | {s['seeds']} | {s['changed']} | "
              f"{100 * s['median']:.1f} | {100 * s['mean_curve']:.1f} | "
              f"{100 * s['diff']:+.1f} [{100 * low:+.1f}, {100 * high:+.1f}] |")
    print(f"wrote {save_json('kfold_rule.json', {'rows': rows, 'summary': summary})}")


if __name__ == "__main__":
    main()

"""A study's reports: `report.md` and `report.html` (one self-contained file: the plots are embedded PNGs,
nothing is fetched), verdicts first, then the learning curve, the paired differences against scratch, a
table per budget, the data and the command and versions that reproduce it. `ptft report DIR` rebuilds
both from `results.json`."""

from __future__ import annotations

import base64
import html
import io
import json
import shlex
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

from ptft.evaluate.stats import Interval, paired_difference  # noqa: E402

CLASSIFICATION = {"primary": "accuracy", "secondary": "macro_f1"}


def _regression(results: dict[str, Any]) -> bool:
    return results.get("metric", CLASSIFICATION)["primary"] == "r2"


def _pct(value: float | None, scale: float = 100.0) -> str:
    if value is None:
        return "–"
    return f"{100 * value:.1f}" if scale == 100.0 else f"{value:.3f}"


def _interval(entry: dict[str, Any], prefix: str, scale: float = 100.0) -> str:
    bounds = "ci" if prefix == "mean" else f"{prefix}_ci"
    mean, low, high = entry[prefix], entry.get(f"{bounds}_low"), entry.get(f"{bounds}_high")
    if mean is None:
        return "–"
    sign = "+" if prefix.startswith("diff") and mean > 0 else ""
    shown = _pct(mean, scale)
    return f"{sign}{shown} [{_pct(low, scale)}, {_pct(high, scale)}]" if low is not None else f"{sign}{shown}"


def tables(results: dict[str, Any]) -> dict[int, list[list[str]]]:
    """Per budget: rows of (method, the judged metric [CI], the other metric [CI], vs scratch [CI], vs best
    baseline [CI], seeds): accuracy and macro-F1 in %, or R² and RMSE as they are."""
    scale = 1.0 if _regression(results) else 100.0
    secondary = results.get("metric", CLASSIFICATION)["secondary"]
    out: dict[int, list[list[str]]] = {}
    for s in results["summary"]:
        label = s["method"] + {"baseline": " (baseline)", "peer": " (peer)"}.get(s["kind"], "")
        out.setdefault(s["labels_per_class"], []).append(
            [label, _interval(s, "mean", scale), _interval(s, secondary, scale), _interval(s, "diff_vs_scratch", scale),
             _interval(s, "diff_vs_best_baseline", scale), str(s["n"])]  # fmt: skip
        )
    return out


HEADER = ["method", "accuracy % [95 % CI]", "macro-F1 %", "vs scratch (points)", "vs best baseline (points)", "seeds"]
REGRESSION_HEADER = ["method", "R² [95 % CI]", "RMSE", "vs scratch (R²)", "vs best baseline (R²)", "seeds"]


def budget(results: dict[str, Any], k: int) -> str:
    return f"{k} labels in all" if _regression(results) else f"{k} labels per class"


def header(results: dict[str, Any]) -> list[str]:
    return REGRESSION_HEADER if _regression(results) else HEADER


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def learning_curve(results: dict[str, Any]) -> str:
    """Mean accuracy (or R²) against the budget, one line per method, the 95 % intervals as bands (PNG, base64)."""
    scale = 1.0 if _regression(results) else 100.0
    figure, axes = plt.subplots(figsize=(7, 4))
    for method in dict.fromkeys(s["method"] for s in results["summary"]):
        points = sorted((s["labels_per_class"], s) for s in results["summary"] if s["method"] == method)
        ks = [k for k, _ in points]
        axes.plot(ks, [scale * s["mean"] for _, s in points], marker="o", label=method)
        if all(s["ci_low"] is not None for _, s in points):
            axes.fill_between(ks, [scale * s["ci_low"] for _, s in points], [scale * s["ci_high"] for _, s in points],
                              alpha=0.15)  # fmt: skip
    axes.set_xscale("log")
    budgets = sorted({s["labels_per_class"] for s in results["summary"]})
    axes.set_xticks(budgets, [str(k) for k in budgets])
    axes.minorticks_off()
    axes.set_xlabel("labelled examples in all" if scale == 1.0 else "labelled examples per class (in all)")
    axes.set_ylabel("test R²" if scale == 1.0 else "test accuracy %")
    axes.legend(fontsize=8)
    axes.grid(alpha=0.3)
    return _png(figure)


def difference_chart(results: dict[str, Any]) -> str:
    """Paired difference against scratch with its 95 % interval, per method and budget (PNG, base64)."""
    entries = [s for s in results["summary"] if s["diff_vs_scratch"] is not None]
    figure, axes = plt.subplots(figsize=(7, 0.4 * len(entries) + 1.2))
    labels = [f"{s['method']}, K={s['labels_per_class']}" for s in entries]
    scale = 1.0 if _regression(results) else 100.0
    means = [scale * s["diff_vs_scratch"] for s in entries]
    errors = [
        [scale * (s["diff_vs_scratch"] - (s["diff_vs_scratch_ci_low"] or s["diff_vs_scratch"])) for s in entries],
        [scale * ((s["diff_vs_scratch_ci_high"] or s["diff_vs_scratch"]) - s["diff_vs_scratch"]) for s in entries],
    ]
    axes.barh(range(len(entries)), means, xerr=errors, color=["tab:green" if m > 0 else "tab:red" for m in means])
    axes.set_yticks(range(len(entries)), labels, fontsize=8)
    axes.axvline(0, color="black", linewidth=0.8)
    what = "R² minus scratch, same labels" if scale == 1.0 else "accuracy minus scratch, same labels (points)"
    axes.set_xlabel(f"{what}; bars = 95 % CI")
    return _png(figure)


def command(results: dict[str, Any]) -> str:
    """The `ptft compare` line that runs this study again: every option that differs from its default."""
    from ptft.config import CompareConfig, flat_fields, flatten

    used = flatten(results["config"])
    flags = ["ptft", "compare"]
    for key, (_, _, default) in flat_fields(CompareConfig).items():
        value = used.get(key, default)
        if isinstance(value, list):
            value, default = tuple(value), tuple(default) if isinstance(default, list | tuple) else default
        if value == default and key not in ("data", "out") or key in ("overwrite", "resume", "dry_run"):
            continue
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            flags.append(flag if value else "--no-" + flag[2:])
        elif value is not None:
            flags += [flag, ",".join(map(str, value)) if isinstance(value, tuple) else str(value)]
    return shlex.join(flags)


def text_table(results: dict[str, Any]) -> str:
    """The tables of every budget for a terminal: fixed-width columns, the verdict sentences under each."""
    sentences = {v["labels_per_class"]: v["sentences"] for v in results["verdicts"]}
    lines = []
    for k, rows in tables(results).items():
        head = header(results)
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
        lines += [f"{budget(results, k)}" + ("" if _regression(results) else " (in all)") + ":",
                  "  ".join(h.ljust(w) for h, w in zip(head, widths))]  # fmt: skip
        lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in rows]
        lines += [f"=> {s}" for s in sentences.get(k, [])] + [""]
    return "\n".join(lines).rstrip()


def markdown(results: dict[str, Any]) -> str:
    lines = ["# Did pre-training help?", ""]
    for v in results["verdicts"]:
        lines += [f"- **K = {budget(results, v['labels_per_class'])}**: " + "; ".join(v["sentences"])]
    data = results["data"]
    lines += ["", f"Data: {data['source']} ({data['n']} examples); test: {data['test']} ({data['test_n']} "
              f"examples). {_pool(data)}{_prior(results)}", ""]  # fmt: skip
    for k, rows in tables(results).items():
        head = header(results)
        lines += [f"## {budget(results, k)}", "", "| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in rows] + [""]
    lines += ["## Reproduce", "", "```", command(results), "```", "", f"versions: {json.dumps(results['versions'])}"]
    return "\n".join(lines) + "\n"


def _pool(data: dict[str, Any]) -> str:
    """What the study drew its labels and pool from, and the copies of test examples it removed."""
    if "labelled" not in data:  # a study written before these counts
        return ""
    copies = data.get("test_copies_removed")
    removed = "" if copies is None else f"; {copies} exact copies of test examples were removed from it first"
    return (f"Labels are drawn from {data['labelled']} labelled examples; the rest of them and {data['unlabelled']} "
            f"unlabelled ones are the pool{removed}.")  # fmt: skip


def _prior(results: dict[str, Any]) -> str:
    if results["config"].get("prior") != "pool":
        return ""
    by_teacher = any(r.get("prior", {}).get("estimated_by") == "teacher" for r in results["rows"])
    moved = (" Each fine-tuned model's head was then moved to the class shares of the pool, estimated from its own "
             "predictions" + (" (a self-trained model's from its teacher's)" if by_teacher else "") +
             " (--prior pool); the baselines were not.")  # fmt: skip
    effects = prior_effects(results["rows"])
    if not effects:  # a study written before the cells kept their scores from before the move
        return moved
    shown = [f"{e['method']} at K = {e['labels_per_class']} ({e['diff'].n} seed{'s' * (e['diff'].n > 1)}): accuracy "
             f"{_points(e['diff'])}, macro-F1 {_points(e['macro_f1_diff'])}" for e in effects]  # fmt: skip
    return f"{moved} Against the same models before the move, paired, it changed: {'; '.join(shown)}."


def _points(diff: Interval) -> str:
    return f"{100 * diff.mean:+.1f}" + (f" [{100 * diff.low:+.1f}, {100 * diff.high:+.1f}]" if diff.n > 1 else "")


def prior_effects(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per fine-tuned method and budget of a --prior pool study: its accuracy after the move to the pool's shares
    minus before it, paired by seed (`diff`, an Interval), and the same for macro-F1 (`macro_f1_diff`: moving
    toward the common classes can raise accuracy while the rare ones lose), from the cells' `before_prior`; with
    the `cells` they came from."""
    moved = [r for r in rows if "before_prior" in r]
    effects = []
    for method, k in dict.fromkeys((r["method"], r["labels_per_class"]) for r in moved):
        cells = [r for r in moved if (r["method"], r["labels_per_class"]) == (method, k)]
        after = {r["seed"]: r["accuracy"] for r in cells}
        before = {r["seed"]: r["before_prior"]["accuracy"] for r in cells}
        f1_after = {r["seed"]: r["macro_f1"] for r in cells}
        f1_before = {r["seed"]: r["before_prior"]["macro_f1"] for r in cells}
        effects.append({"method": method, "labels_per_class": k, "cells": cells, "before": before, "after": after,
                        "diff": paired_difference(after, before),
                        "macro_f1_diff": paired_difference(f1_after, f1_before)})  # fmt: skip
    return effects


def _selection(results: dict[str, Any]) -> str:
    used = {r.get("select") for r in results["rows"] if r["kind"] == "finetune"}
    kfold = "by stratified k-fold over them (at most 5 folds), then trains on all of them"
    holdout = "on a quarter of them (at least one per class) and trains on the rest"
    fixed = "by no selection: it trains on all of them for the steps it is given and keeps its last weights"
    for name, text in (("fixed", fixed), ("kfold", kfold)):
        if used == {name} or (not used - {None} and results["config"].get("select") == name):
            return text
    if "kfold" in used:
        budgets = sorted({r["labels_per_class"] for r in results["rows"] if r.get("select") == "kfold"})
        return f"{kfold} at {', '.join(map(str, budgets))} labels per class, else {holdout}"
    return holdout


def page(results: dict[str, Any]) -> str:
    esc = html.escape
    verdict_items = "".join(
        f"<li><b>K = {budget(results, v['labels_per_class'])}</b>: {esc('; '.join(v['sentences']))}</li>"
        for v in results["verdicts"]
    )
    sections = []
    for k, rows in tables(results).items():
        head = "".join(f"<th>{esc(h)}</th>" for h in header(results))
        body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows)
        sections.append(f"<h2>{budget(results, k)}</h2><table><tr>{head}</tr>{body}</table>")
    data = results["data"]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>ptft compare: did pre-training help?</title>
<style>body{{font-family:sans-serif;max-width:960px;margin:2em auto;padding:0 1em;color:#222}}
table{{border-collapse:collapse;margin:0.5em 0 1.5em}}td,th{{border:1px solid #ccc;padding:4px 8px;font-size:14px}}
th{{background:#f3f3f3}}li{{margin:0.4em 0}}code,pre{{background:#f6f6f6;padding:2px 4px}}
pre{{white-space:pre-wrap;word-break:break-all}}</style></head>
<body><h1>Did pre-training help?</h1><ul id="verdicts">{verdict_items}</ul>
<h2>Learning curve</h2><img alt="test accuracy against labels per class"
 src="data:image/png;base64,{learning_curve(results)}">
<h2>Paired difference against scratch</h2><img alt="accuracy minus scratch"
 src="data:image/png;base64,{difference_chart(results)}">
{"".join(sections)}
<h2>Data</h2><p>{esc(data['source'])}: {data['n']} examples ({esc(data['modality'])}); test: {esc(data['test'])}
({data['test_n']} examples). {esc(_pool(data))}
Every method sees the same K labelled examples per class for a seed; fine-tuning picks its step
{_selection(results)}.{esc(_prior(results))} Intervals: Student t over seeds, paired differences on the same labels.</p>
<h2>Reproduce</h2><pre>{esc(command(results))}</pre><p>versions: {esc(json.dumps(results['versions']))}</p>
</body></html>
"""


def write_reports(folder: Path, results: dict[str, Any]) -> tuple[Path, Path]:
    (folder / "report.md").write_text(markdown(results), encoding="utf-8")
    (folder / "report.html").write_text(page(results), encoding="utf-8")
    return folder / "report.md", folder / "report.html"


def rebuild(folder: str | Path) -> tuple[Path, Path]:
    """`ptft report DIR`: the summary, the verdicts and both reports again from the cells in DIR/results.json."""
    from ptft.errors import DataError
    from ptft.evaluate.summary import summarize, verdicts

    path = Path(folder) / "results.json"
    if not path.is_file():
        raise DataError(f"{path} does not exist; give the folder of a finished ptft compare")
    results = json.loads(path.read_text(encoding="utf-8"))
    metric = results.get("metric", CLASSIFICATION)
    results["summary"] = summarize(results["rows"], metric["primary"], metric["secondary"])  # again, from the cells
    results["verdicts"] = verdicts(results["summary"], results["rows"], metric["primary"])
    path.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return write_reports(Path(folder), results)

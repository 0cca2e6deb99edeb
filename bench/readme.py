"""README tables rendered from the benchmark results, so the figures cannot go stale.

Each table in README.md stands between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` and is written
here from `bench/results/*.json`; `tests/test_readme.py` fails when README.md differs from what this
script writes. After re-running a benchmark:

    .venv/bin/python bench/readme.py            # rewrite the tables in README.md
    .venv/bin/python bench/readme.py --check    # exit 1 if README.md is not what the results say
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
README = ROOT / "README.md"


def load(name: str) -> Any:
    return json.loads((RESULTS / f"{name}.json").read_text())


def fashion_mnist_throughput() -> str:
    rows = load("fashion_mnist_throughput")
    names = {"simclr": "SimCLR (two views per image)", "mae": "masked patches (MAE-style)"}
    rate = {(r["objective"], r["precision"]): r["images_per_s"] for r in rows}
    lines = ["| objective | fp32 | bf16 autocast | bf16 / fp32 |", "|---|---|---|---|"]
    for objective, label in names.items():
        fp32, bf16 = rate[(objective, "fp32")], rate[(objective, "bf16")]
        lines.append(f"| {label} | {fp32:,.0f} images/s | {bf16:,.0f} images/s | {bf16 / fp32:.1f}× |")
    return "\n".join(lines)


def throughput() -> str:
    rows = {(r["impl"], r["precision"]): r for r in load("throughput")}
    lines = ["| implementation | fp32 tokens/s | bf16 tokens/s | MFU fp32 | MFU bf16 |", "|---|---|---|---|---|"]
    ours = [rows[("ptft", p)] for p in ("fp32", "bf16")]
    hf = [rows[("hf", p)] for p in ("fp32", "bf16")]
    lines.append(
        f"| ptft | {ours[0]['tokens_per_s']:,} | {ours[1]['tokens_per_s']:,} | "
        f"{100 * ours[0]['mfu']:.1f} % | {100 * ours[1]['mfu']:.1f} % |"
    )
    lines.append(f"| Hugging Face `BertForMaskedLM` | {hf[0]['tokens_per_s']:,} | {hf[1]['tokens_per_s']:,} | | |")
    lines.append(f"| ratio | {ours[0]['ratio_vs_hf']:.2f}× | {ours[1]['ratio_vs_hf']:.2f}× | | |")
    return "\n".join(lines)


def memory() -> str:
    lines = [
        "| corpus | texts | `data prepare` | MB/s per core (tokenizing alone) | peak RSS, 200 pre-training steps |",
        "|---|---|---|---|---|",
    ]
    for r in load("memory"):
        size = f"{r['corpus_mb']} MB" if r["corpus_mb"] < 1000 else f"{r['corpus_mb'] / 1000:g} GB"
        lines.append(
            f"| {size} | {r['texts']:,} | {r['prepare_seconds']} s, {r['prepare_mb_per_s']:.2f} MB/s | "
            f"{r['prepare_mb_per_s_per_core']:.2f} ({r['tokenize_mb_per_s_per_core']:g}) | {r['peak_rss_mb']:,} MB |"
        )
    return "\n".join(lines)


def _points(entry: dict[str, Any], key: str, low: str, high: str) -> str:
    if entry.get(key) is None:
        return "–"
    return f"{100 * entry[key]:+.1f} [{100 * entry[low]:+.1f}, {100 * entry[high]:+.1f}]"


def compare_table(name: str) -> str:
    """One row per method of bench/results/`name`.json, per budget K: test accuracy with its 95 % interval, and
    the paired difference against `full` with held-out selection (or the file's stored `reference`), in points."""
    results = load(name)
    summary, reference = results["summary"], results.get("reference", "full")
    ks = sorted({s["labels_per_class"] for s in summary})
    by = {(s["method"], s["labels_per_class"]): s for s in summary}
    head = [f"K = {k}: accuracy % [95 % CI]" for k in ks] + [f"K = {k}: vs `{reference}` (points)" for k in ks]
    lines = ["| method | " + " | ".join(head) + " |", "|---" * (len(head) + 1) + "|"]
    for method in dict.fromkeys(s["method"] for s in summary):
        cells = []
        for k in ks:
            s = by.get((method, k))
            cells.append(
                "–" if s is None else f"{100 * s['mean']:.1f} [{100 * s['ci_low']:.1f}, {100 * s['ci_high']:.1f}]"
            )
        for k in ks:
            s = by.get((method, k))
            cells.append(
                "–" if s is None else _points(s, "diff_vs_full_holdout", "diff_vs_full_ci_low", "diff_vs_full_ci_high")
            )
        lines.append(f"| `{method}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def budget() -> str:
    """Per task and pre-training budget: a strategy's accuracy and its paired gains over scratch and over the
    best baseline, in points with 95 % intervals (bench/budget.py)."""
    gains = load("budget")["gains"]
    lines = ["| task | method | pre-training | accuracy % | vs scratch (points) | vs best baseline (points) |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for g in gains:
        (s_lo, s_hi), (b_lo, b_hi) = g["gain_vs_scratch_ci"], g["gain_vs_best_baseline_ci"]
        lines.append(
            f"| {g['task']} | `{g['method']}` | {g['pretrain_minutes']:g} min of {g['objective']} | "
            f"{100 * g['accuracy']:.1f} | "
            f"{100 * g['gain_vs_scratch']:+.1f} [{100 * s_lo:+.1f}, {100 * s_hi:+.1f}] | "
            f"{100 * g['gain_vs_best_baseline']:+.1f} [{100 * b_lo:+.1f}, {100 * b_hi:+.1f}] "
            f"vs `{g['best_baseline']}` |"
        )
    return "\n".join(lines)


def objectives() -> str:
    """Per task and objective: steps in the same minutes and the k-NN probe at the end (bench/objectives.py)."""
    lines = ["| task | objective | minutes | steps | k-NN probe % |", "|---|---|---|---|---|"]
    for task in ("wordnet-supersenses", "fashion-mnist"):
        path = RESULTS / f"objectives_{task}.json"
        for r in json.loads(path.read_text()) if path.is_file() else []:
            probe = "–" if r["knn_accuracy"] is None else f"{100 * r['knn_accuracy']:.1f}"
            lines.append(f"| {task} | `{r['objective']}` | {r['minutes']:g} | {r['steps']:,} | {probe} |")
    return "\n".join(lines)


def tables(name: str) -> str:
    """Per table and method: accuracy with its 95 % interval at each budget, and the paired difference to the
    best baseline of that budget (bench/tables.py; `name`: tables or tables_validation)."""
    path = RESULTS / f"{name}.json"
    summary = json.loads(path.read_text())["summary"] if path.is_file() else []
    budgets = sorted({s["labels_per_class"] for s in summary})
    lines = ["| table | method | " + " | ".join(f"{k} per class: % (vs best baseline)" for k in budgets) + " |",
             "|---|---|" + "---|" * len(budgets)]  # fmt: skip
    by = {(s["dataset"], s["method"], s["labels_per_class"]): s for s in summary}
    for dataset, method in dict.fromkeys((s["dataset"], s["method"]) for s in summary):
        cells = []
        for k in budgets:
            s = by.get((dataset, method, k))
            if s is None:
                cells.append("–")
                continue
            d = s["vs_best_baseline"]
            gap = "best baseline" if method == s["best_baseline"] else _gap(d)
            cells.append(f"{100 * s['mean']:.1f} [{100 * s['ci_low']:.1f}, {100 * s['ci_high']:.1f}] ({gap})")
        lines.append(f"| {dataset} | `{method}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def peers(task: str = "wordnet-supersenses") -> str:
    """Per budget: the peer (SetFit) with its interval, ptft's best fine-tuned row of the same study, and best
    minus peer paired by seed (bench/peers.py, the `peers` section of compare_<task>.json)."""
    path = RESULTS / f"compare_{task}.json"
    entries = json.loads(path.read_text()).get("peers", []) if path.is_file() else []
    lines = ["| K per class | peer: accuracy % [95 % CI] | ptft's best in the study | its accuracy % | best − peer "
             "(points) [95 % CI] | seeds |", "|---|---|---|---|---|---|"]  # fmt: skip
    for e in entries:
        lo, hi = e["peer_ci"]
        d_lo, d_hi = e["best_minus_peer_ci"]
        lines.append(f"| {e['labels_per_class']} | `{e['peer']}` {100 * e['peer_mean']:.1f} [{100 * lo:.1f}, "
                     f"{100 * hi:.1f}] | `{e['ptft_best']}` | {100 * e['ptft_best_mean']:.1f} | "
                     f"{100 * e['best_minus_peer']:+.1f} [{100 * d_lo:+.1f}, {100 * d_hi:+.1f}] | "
                     f"{e['paired_seeds']} |")  # fmt: skip
    return "\n".join(lines)


def prior() -> str:
    """Per task and fine-tuned method: accuracy before and after the move to the pool's shares (`--prior pool`),
    the paired difference and macro-F1's (bench/prior.py's prior.json), and how unequal the classes are: in the
    test set, and as the move estimated them for the pool (largest share over smallest)."""
    results = load("prior")
    lines = ["| task | method | K | classes' largest / smallest share: test set | estimated for the pool | "
             "accuracy % before | after | difference (points) [95 % CI] | macro-F1 difference | seeds |",
             "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for p in results["pairs"]:
        lines.append(f"| {p['task']} | `{p['method']}` | {p['labels_per_class']} | "
                     f"{results['imbalance'][p['task']]:.0f}× | {p['estimated_imbalance']:.0f}× | "
                     f"{100 * p['without']:.1f} | {100 * p['with']:.1f} | "
                     f"{_change(p['diff'], p['diff_ci'])} | {_change(p['macro_f1_diff'], p['macro_f1_diff_ci'])} | "
                     f"{p['seeds']} |")  # fmt: skip
    return "\n".join(lines)


def _change(mean: float, bounds: list[float] | None) -> str:
    """A paired change in points, with its interval where there is one (not from one seed)."""
    return f"{100 * mean:+.1f}" + (f" [{100 * bounds[0]:+.1f}, {100 * bounds[1]:+.1f}]" if bounds else "")


def _gap(d: dict[str, float]) -> str:
    return f"{100 * d['mean']:+.1f} [{100 * d['ci_low']:+.1f}, {100 * d['ci_high']:+.1f}]"


TABLES: dict[str, Callable[[], str]] = {
    "fashion_mnist_throughput": fashion_mnist_throughput,
    "throughput": throughput,
    "memory": memory,
    "compare_fashion_mnist": lambda: compare_table("compare_fashion-mnist"),
    "compare_wordnet": lambda: compare_table("compare_wordnet-supersenses"),
    "peers_wordnet": peers,
    "compare_verbs": lambda: compare_table("compare_wordnet-verb-supersenses"),
    "pool_fashion_mnist": lambda: compare_table("pool_fashion-mnist"),
    "averaging_fashion_mnist": lambda: compare_table("averaging_fashion-mnist"),
    "averaging_letter": lambda: compare_table("averaging_letter"),
    "prior": prior,
    "peers_verbs": lambda: peers("wordnet-verb-supersenses"),
    "budget": budget,
    "objectives": objectives,
    "tables": lambda: tables("tables"),
    "tables_validation": lambda: tables("tables_validation"),
}


def rendered(readme: str) -> str:
    """`readme` with every marked table rewritten from the results; a missing marker is an error."""
    for name, table in TABLES.items():
        pattern = re.compile(rf"(<!-- bench:{name} -->\n).*?(\n<!-- /bench:{name} -->)", re.S)
        if not pattern.search(readme):
            raise SystemExit(f"README.md has no <!-- bench:{name} --> ... <!-- /bench:{name} --> block")
        readme = pattern.sub(lambda m, t=table: m.group(1) + t() + m.group(2), readme)  # type: ignore[misc]
    return readme


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md differs; write nothing")
    args = parser.parse_args()
    text = README.read_text(encoding="utf-8")
    new = rendered(text)
    if args.check:
        if new != text:
            print("README.md's benchmark tables differ from bench/results: run .venv/bin/python bench/readme.py")
            sys.exit(1)
        print("README.md's benchmark tables match bench/results")
        return
    README.write_text(new, encoding="utf-8")
    print("wrote the benchmark tables of README.md" if new != text else "README.md was already up to date")


if __name__ == "__main__":
    main()

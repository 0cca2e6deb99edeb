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
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
README = ROOT / "README.md"

FASHION_METHODS = {
    "logreg": "logistic regression on pixels",
    "scratch": "CNN from scratch (same architecture, lr 3e-3)",
    "linear": "pre-trained, linear probe",
    "full": "pre-trained, full fine-tune",
    "self-train": "pre-trained, self-train",
}
WORDNET_METHODS = {
    "tfidf-logreg": "TF-IDF + logistic regression",
    "scratch": "ptft transformer from scratch",
    "pretrained": "ptft pre-trained (MLM), full fine-tune",
    "pretrained-self-train": "ptft pre-trained, self-train on the pool",
    "minilm-frozen-logreg": "all-MiniLM-L6-v2 frozen + logistic regression",
    "minilm-finetuned": "all-MiniLM-L6-v2 fine-tuned by ptft",
}


def load(name: str) -> Any:
    return json.loads((RESULTS / f"{name}.json").read_text())


def mean_std(rows: list[dict[str, Any]], method: str, per_class: int, key: str) -> tuple[float, float]:
    values = [100 * r[key] for r in rows if r["method"] == method and r["labels_per_class"] == per_class]
    return statistics.fmean(values), statistics.pstdev(values)


def budgets(rows: list[dict[str, Any]]) -> list[int]:
    return sorted({int(r["labels_per_class"]) for r in rows})


def fashion_mnist() -> str:
    rows = load("fashion_mnist")
    ks = budgets(rows)
    best = {k: max(FASHION_METHODS, key=lambda m: mean_std(rows, m, k, "accuracy")[0]) for k in ks}
    lines = ["| method | " + " | ".join(f"{k} labels/class" for k in ks) + " |", "|---" * (len(ks) + 1) + "|"]
    for method, label in FASHION_METHODS.items():
        cells = []
        for k in ks:
            mean, std = mean_std(rows, method, k, "accuracy")
            cell = f"{mean:.1f} ± {std:.1f} %"
            cells.append(f"**{cell}**" if best[k] == method else cell)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def fashion_mnist_throughput() -> str:
    rows = load("fashion_mnist_throughput")
    names = {"simclr": "SimCLR (two views per image)", "mae": "masked patches (MAE-style)"}
    rate = {(r["objective"], r["precision"]): r["images_per_s"] for r in rows}
    lines = ["| objective | fp32 | bf16 autocast | bf16 / fp32 |", "|---|---|---|---|"]
    for objective, label in names.items():
        fp32, bf16 = rate[(objective, "fp32")], rate[(objective, "bf16")]
        lines.append(f"| {label} | {fp32:,.0f} images/s | {bf16:,.0f} images/s | {bf16 / fp32:.1f}× |")
    return "\n".join(lines)


def wordnet() -> str:
    rows = load("wordnet")
    ks = budgets(rows)
    head = [f"{k}/class acc" for k in ks] + [f"{k}/class macro-F1" for k in ks]
    lines = ["| method | " + " | ".join(head) + " |", "|---" * (len(head) + 1) + "|"]
    for method, label in WORDNET_METHODS.items():
        cells = [
            "{:.1f} ± {:.1f}".format(*mean_std(rows, method, k, key)) for key in ("accuracy", "macro_f1") for k in ks
        ]
        lines.append(f"| `{method}` ({label}) | " + " | ".join(cells) + " |")
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


def compare_fashion_mnist() -> str:
    results = load("compare_fashion-mnist")
    lines = [
        "| method | K | test accuracy % [95 % CI] | vs scratch (points) | vs `full`, held-out selection (points) |",
        "|---|---|---|---|---|",
    ]
    for s in results["summary"]:
        accuracy = f"{100 * s['mean']:.1f} [{100 * s['ci_low']:.1f}, {100 * s['ci_high']:.1f}]"
        vs_scratch = _points(s, "diff_vs_scratch", "diff_vs_scratch_ci_low", "diff_vs_scratch_ci_high")
        vs_full = _points(s, "diff_vs_full_holdout", "diff_vs_full_ci_low", "diff_vs_full_ci_high")
        lines.append(f"| `{s['method']}` | {s['labels_per_class']} | {accuracy} | {vs_scratch} | {vs_full} |")
    return "\n".join(lines)


TABLES: dict[str, Callable[[], str]] = {
    "fashion_mnist": fashion_mnist,
    "fashion_mnist_throughput": fashion_mnist_throughput,
    "wordnet": wordnet,
    "throughput": throughput,
    "memory": memory,
    "compare_fashion_mnist": compare_fashion_mnist,
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

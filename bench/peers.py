"""ptft against the tool a user would pick instead, on the same labels: the peer rows of a compare study
(`setfit` on WordNet) paired with the rows of bench/results/compare_<task>.json (ptft's own methods).

Peers are slow, so they run in a compare study of their own (with the task's baselines), and so may ptft's
methods from another start (`full[minilm]`, in a second `--study`); a budget and a seed pick the same
labelled examples in every study, and this script checks it: each row's `labelled` fingerprint must equal
that of the stored rows of its (budget, seed). It then puts the peer and fine-tuned rows into
bench/results/compare_<task>.json, or the results file `--into` names (replacing a stored row of the same
method, budget and seed), and writes its `peers` section: per budget the peer's mean with its 95 % interval,
ptft's best method there (the best fine-tuned row by mean) and the paired difference, best minus peer, with
its interval. A control that is no compare method (FixMatch from a random init) comes as `ptft finetune`
bundles on the same labels, `--bundle 'fixmatch[scratch]=FOLDER'` each, checked the same way.

    .venv/bin/ptft compare --data wordnet-supersenses --test wordnet-supersenses:test \\
        --pretrained minilm=hf:$MINILM --methods tfidf-logreg,minilm-frozen-logreg,setfit \\
        --labels-per-class 8,32,128 --seeds 5 --out bench/runs/peers/wordnet-supersenses
    .venv/bin/ptft compare --data wordnet-supersenses --test wordnet-supersenses:test \\
        --pretrained minilm=hf:$MINILM --methods 'tfidf-logreg,full[minilm],setfit[minilm]' \\
        --labels-per-class 8 --seeds 5 --out bench/runs/minilm/wordnet-supersenses
    .venv/bin/python bench/peers.py --task wordnet-supersenses \\
        --study bench/runs/peers/wordnet-supersenses --study bench/runs/minilm/wordnet-supersenses
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from _common import RESULTS, against_full, save_json

from ptft.evaluate.compare import starts as named_starts
from ptft.evaluate.summary import summarize

HERE = Path(__file__).resolve().parent


def _seeds(rows: list[dict[str, Any]], method: str, k: int) -> dict[int, float]:
    return {r["seed"]: r["accuracy"] for r in rows if r["method"] == method and r["labels_per_class"] == k}


def check_pairing(peer_rows: list[dict[str, Any]], stored: list[dict[str, Any]]) -> None:
    """Every peer row trained on the labelled examples the stored rows of its budget and seed trained on (each
    stored row that records them: the baselines, or the fine-tuned rows of a file that has none)."""
    known = {(r["labels_per_class"], r["seed"]): r["labelled"] for r in stored if r.get("labelled")}
    for row in peer_rows:
        key = (row["labels_per_class"], row["seed"])
        if key in known and known[key] != row["labelled"]:
            raise SystemExit(f"{row['method']} at {key}: other labelled examples than the stored rows; not paired")


def peer_table(rows: list[dict[str, Any]], peer: str) -> list[dict[str, Any]]:
    """Per budget: the peer, ptft's best fine-tuned method, and best minus peer, paired by seed: what
    `ptft compare`'s summary says of them (its best fine-tuned row, its `diff_vs_best_peer`)."""
    summary = summarize(rows)
    out = []
    for k in sorted({r["labels_per_class"] for r in rows if r["method"] == peer}):
        here = {s["method"]: s for s in summary if s["labels_per_class"] == k}
        mine = here[peer]
        entry: dict[str, Any] = {"labels_per_class": k, "peer": peer, "seeds": mine["n"], "peer_mean": mine["mean"],
                                 "peer_ci": [mine["ci_low"], mine["ci_high"]]}  # fmt: skip
        tuned = [s for s in here.values() if s["kind"] == "finetune" and s["method"] != "scratch"]
        if tuned:
            best = max(tuned, key=lambda s: s["mean"])
            paired = set(_seeds(rows, best["method"], k)) & set(_seeds(rows, peer, k))
            entry.update(ptft_best=best["method"], ptft_best_mean=best["mean"],
                         best_minus_peer=best["diff_vs_best_peer"],
                         best_minus_peer_ci=[best["diff_vs_best_peer_ci_low"], best["diff_vs_best_peer_ci_high"]],
                         paired_seeds=len(paired))  # fmt: skip
        out.append(entry)
    return out


def added_summary(rows: list[dict[str, Any]], added: list[dict[str, Any]], task: str,
                  reference: str) -> list[dict[str, Any]]:  # fmt: skip
    """The summary entries of the added methods (peers, ptft from another start), as bench/compare.py writes
    them: `ptft compare`'s summary and the paired difference against `reference` (full fine-tuning with
    held-out selection), so the README's table shows them beside the stored ones."""
    names = {r["method"] for r in added}
    entries = [{"task": task, **s} for s in summarize(rows) if s["method"] in names]
    against_full(entries, rows, reference)
    return entries


def in_study(cells: list[dict[str, Any]], config: dict[str, Any]) -> list[dict[str, Any]]:
    """The cells of the study's own seeds and budgets (its config.json): a study finished with `--resume --seeds N`
    after an interrupted longer run keeps the cells it ran beyond N in cells.jsonl, which its report leaves out."""
    if not config:
        return cells
    seeds = range(config.get("seed", 0), config.get("seed", 0) + config.get("seeds", 5))
    budgets = set(config.get("labels_per_class", [r["labels_per_class"] for r in cells]))
    return [r for r in cells if r["seed"] in seeds and r["labels_per_class"] in budgets]


SELECTION_SUFFIX = {"kfold": "+kfold", "fixed": "+fixed"}  # how a row's name says how its step was chosen


def study_rows(cells: list[dict[str, Any]], starts: dict[str, str], task: str,
               baselines: bool = False, ema: float = 0.0, suffix: str = "",
               prior: str = "labels") -> list[dict[str, Any]]:  # fmt: skip
    """The rows a study brings: its peers and its fine-tuned rows (its baselines only check the pairing, unless
    `baselines`: a task with no stored results takes them too). A study of one start names its rows `full`; they
    take the start's name (`full[minilm]`), as in a study of several, then `+kfold` when k-fold picked their step
    (as bench/compare.py names them) or `+fixed` when none was picked, `+ema` when the study ran with --ema
    (`ema`, from its config) and `+prior` with --prior pool, then the study's own `suffix` (`--study
    +5min=DIR`), so studies of one method that differ in these keep their rows apart."""
    named = {source: name for name, source in starts.items()}
    kinds = ("peer", "finetune", "baseline") if baselines else ("peer", "finetune")
    out = []
    for r in cells:
        if r["kind"] not in kinds:
            continue
        method = r["method"]
        if r["kind"] == "finetune" and "[" not in method and r.get("pretrained") in named:
            method = f"{method}[{named[r['pretrained']]}]"
        if r["kind"] == "finetune":
            tags = ("+ema" if ema else "", "+prior" if prior == "pool" else "", suffix)
            for part in (SELECTION_SUFFIX.get(r.get("select", ""), ""), *tags):
                method += part if part and part not in method else ""
        out.append({"task": task, **r, "method": method, "select": r.get("select", "")})
    return out


def bundle_row(spec: str, task: str) -> dict[str, Any]:
    """`NAME=FOLDER`: a `ptft finetune` bundle that was given `--test` -> its row, named NAME (a control no compare
    method is, e.g. FixMatch from a random init: `fixmatch[scratch]`); its budget is its labels plus validation
    examples per class, as compare counts K."""
    name, _, folder = spec.partition("=")
    meta_file = Path(folder) / "ptft.json"
    if not name or not meta_file.is_file():
        raise SystemExit(f"--bundle {spec}: give NAME=FOLDER, FOLDER a finished `ptft finetune` bundle")
    meta = json.loads(meta_file.read_text())
    config, metrics = meta["config"], meta["metrics"]
    if "test" not in metrics:
        raise SystemExit(f"{meta_file}: no test score; fine-tune with --test")
    val = config["val_per_class"] or config["labels_per_class"]
    return {"task": task, "method": name, "kind": "finetune", "labels_per_class": config["labels_per_class"] + val,
            "seed": config["loop"]["seed"], "pretrained": config["pretrained"], "select": "holdout",
            "accuracy": metrics["test"]["accuracy"], "macro_f1": metrics["test"]["macro_f1"],
            "labelled": metrics["labelled"], "steps": metrics["steps"], "seconds": metrics["seconds"]}  # fmt: skip


def _key(row: dict[str, Any]) -> tuple[str, int, int]:
    return row["method"], row["labels_per_class"], row["seed"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="wordnet-supersenses")
    parser.add_argument("--peer", default="setfit")
    parser.add_argument("--reference", default="", help="the method every summary entry is paired against; "
                        "'' = full (held-out selection) where stored, else full[pretrain]")  # fmt: skip
    parser.add_argument("--study", action="append", default=[],
                        help="a compare folder with peer rows or ptft rows from another start (may repeat); "
                        "+SUFFIX=FOLDER appends +SUFFIX to its fine-tuned rows' names; "
                        "default bench/runs/peers/<task>")  # fmt: skip
    parser.add_argument("--into", default="", help="the results file to add the rows to, in bench/results/; "
                        "default compare_<task>.json")  # fmt: skip
    parser.add_argument("--bundle", action="append", default=[],
                        help="NAME=FOLDER: a `ptft finetune` bundle (run with --test) as a row named NAME; may "
                        "repeat")  # fmt: skip
    args = parser.parse_args()
    path = RESULTS / (args.into or f"compare_{args.task}.json")
    new = not path.is_file()  # a task with no stored results: its studies' baselines are its rows
    results = {"rows": [], "summary": []} if new else json.loads(path.read_text())
    added: list[dict[str, Any]] = []
    for spec in args.study or [str(HERE / "runs" / "peers" / args.task)]:
        suffix, folder = spec.split("=", 1) if spec.startswith("+") and "=" in spec else ("", spec)
        cells_file = Path(folder) / "cells.jsonl"
        if not cells_file.is_file():
            raise SystemExit(f"{cells_file}: no such file; run the study first (see this script's docstring)")
        config_file = Path(folder) / "config.json"
        config = json.loads(config_file.read_text()) if config_file.is_file() else {}
        cells = in_study([json.loads(line) for line in cells_file.read_text().splitlines() if line.strip()], config)
        starts = named_starts(tuple(config.get("pretrained", [])))  # NAME=SOURCE, or named after its folder
        ema = config.get("loop", {}).get("ema", 0.0)
        rows = study_rows(cells, starts, args.task, baselines=new, ema=ema, suffix=suffix,
                          prior=config.get("prior", "labels"))
        checked = rows if new else rows + [r for r in cells if r["kind"] == "baseline"]  # new: rows hold them
        check_pairing(checked, results["rows"] + added)
        added += rows
        for name, source in starts.items():  # the starts of the added rows, where they came from
            results.setdefault("starts", {})[name] = source
    bundles = [bundle_row(spec, args.task) for spec in args.bundle]
    check_pairing(bundles, results["rows"] + added)
    added += bundles
    added = list({_key(r): r for r in added}.values())  # a baseline in two studies of a new task: once
    replaced = {_key(r) for r in added}  # a study's row replaces the stored one of its method, budget and seed
    kept = [r for r in results["rows"] if _key(r) not in replaced]
    results["rows"] = kept + added
    peers = peer_table(results["rows"], args.peer)
    if peers or "peers" in results:  # a results file with no peer rows gets no empty section
        results["peers"] = peers
    reference = args.reference or ("full" if any(r["method"] == "full" for r in kept) else "full[pretrain]")
    results["reference"] = reference
    names = {r["method"] for r in added}
    summary = [e for e in results["summary"] if e["method"] not in names]
    results["summary"] = summary + added_summary(results["rows"], added, args.task, reference)
    print(f"{'K':>4} {'peer':<8} {'peer %':>14} {'ptft best':<22} {'best %':>7} {'best - peer (points)':>24}")
    for e in peers:
        lo, hi = e["peer_ci"]
        line = f"{e['labels_per_class']:>4} {e['peer']:<8} {100 * e['peer_mean']:5.1f} [{100 * lo:.1f}, {100 * hi:.1f}]"
        if "ptft_best" in e:
            d_lo, d_hi = e["best_minus_peer_ci"]
            line += (f" {e['ptft_best']:<22} {100 * e['ptft_best_mean']:7.1f} {100 * e['best_minus_peer']:+6.1f} "
                     f"[{100 * d_lo:+.1f}, {100 * d_hi:+.1f}] ({e['paired_seeds']} seeds)")  # fmt: skip
        print(line)
    print(f"wrote {save_json(path.name, results)}")


if __name__ == "__main__":
    main()

"""WordNet noun supersenses label-efficiency benchmark: does MLM pre-training on the unlabeled glosses help,
and how far is it from a real pretrained encoder (all-MiniLM-L6-v2)?

26 classes; text = the gloss of a noun synset; fixed 5,000-synset test split (`wordnet-supersenses:test`).
One masked-language-model pre-training run on the 87,926 training texts (glosses + example sentences,
labels unused, test texts kept out by the leakage check), then for 8, 32 and 128 labels per class x 3
seeds: TF-IDF + logistic regression, ptft's transformer from scratch, the same transformer pre-trained
(full fine-tuning, and self-training on the pool), all-MiniLM-L6-v2 frozen + logistic regression, and
all-MiniLM-L6-v2 fine-tuned by ptft. Also measures cleaning / de-duplication throughput (lines/s) and
MLM pre-training throughput (tokens/s, fp32 and bf16). Prints tables; writes bench/results/wordnet.json
(a list of rows) and bench/results/wordnet_throughput.json.

    .venv/bin/python bench/wordnet.py                                  # the full study (see README for time)
    .venv/bin/python bench/wordnet.py --labels 32 --seeds 1 --pretrain-minutes 3   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings
from dataclasses import replace
from pathlib import Path

import torch
from _common import RESULTS, save_json

from ptft.api import Pretrainer
from ptft.config import PretrainConfig
from ptft.data.corpus import prepare_corpus
from ptft.data.load import read_text_set
from ptft.demo import (
    TEXT_FINETUNE_LOOP,
    TEXT_LEARNING_RATES,
    TEXT_MASK_RATIO,
    TEXT_MODEL,
    TEXT_OPTIONS,
    TEXT_PRETRAIN_LOOP,
    minilm_path,
)
from ptft.evaluate.plots import comparison_bars
from ptft.evaluate.study import TEXT_METHODS, run_study, table

HERE = Path(__file__).resolve().parent


def data_throughput(texts: list[str]) -> list[dict]:
    """Lines/s of cleaning + exact de-duplication, and of cleaning + near (MinHash) de-duplication."""
    rows = []
    for dedup in ("exact", "near"):
        kept, report = prepare_corpus(texts, True, dedup, source="wordnet")
        rows.append({"step": f"clean + dedup {dedup}", "lines": len(texts), "kept": len(kept),
                     "seconds": report["seconds"], "lines_per_s": report["lines_per_second"]})  # fmt: skip
        print(f"  clean + dedup {dedup:<5}: {report['lines_per_second']:>8,} lines/s, kept {len(kept)} of {len(texts)}")
    return rows


def mlm_throughput(train, out: Path, steps: int) -> list[dict]:
    """MLM pre-training tokens/s (real tokens, padding excluded) with the benchmark's encoder."""
    rows = []
    for precision in ("fp32", "bf16"):
        loop = replace(TEXT_PRETRAIN_LOOP, steps=steps, epochs=1, log_every=steps, precision=precision, progress=False)
        cfg = PretrainConfig(out=str(out / f"tp-{precision}"), overwrite=True, objective="mlm", model=TEXT_MODEL,
                             mask_ratio=TEXT_MASK_RATIO, text=TEXT_OPTIONS, loop=loop)  # fmt: skip
        trainer = Pretrainer(cfg).fit(train)
        meta = json.loads((trainer.run_dir / "ptft.json").read_text())
        rows.append({"objective": "mlm", "precision": precision, "tokens_per_s": meta["metrics"]["tokens_per_second"]})
        print(f"  mlm {precision}: {rows[-1]['tokens_per_s']:>8,} tokens/s")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, nargs="+", default=[8, 32, 128], help="labels per class")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--pretrain-minutes", type=float, default=15.0)
    parser.add_argument("--methods", nargs="+", default=list(TEXT_METHODS), choices=TEXT_METHODS)
    parser.add_argument("--throughput-steps", type=int, default=20)
    parser.add_argument("--hf-path", default="", help="Hugging Face folder for the minilm rows (default: the package)")
    parser.add_argument("--out", default=str(HERE / "runs" / "wordnet"))
    parser.add_argument("--only-throughput", action="store_true", help="measure and write the throughput only")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message=".*have fewer than.*")  # 2 rare classes at 128 per class: expected
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    hf_path = args.hf_path or minilm_path()
    methods = [m for m in args.methods if hf_path or not m.startswith("minilm")]
    train, test = read_text_set("wordnet-supersenses"), read_text_set("wordnet-supersenses:test")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, load {os.getloadavg()[0]:.1f}")
    print(f"WordNet noun supersenses: {len(train)} training texts ({int((train.labels >= 0).sum())} labelled glosses), "
          f"{len(test)} test, {len(train.label_names)} classes")
    print("data throughput:")
    data_rows = data_throughput(train.texts)
    print(f"MLM throughput ({TEXT_MODEL.depth}x{TEXT_MODEL.dim}, batch {TEXT_PRETRAIN_LOOP.batch_size}):")
    speed = mlm_throughput(train, out, args.throughput_steps)
    save_json("wordnet_throughput.json", {"data": data_rows, "mlm": speed})
    if args.only_throughput:
        return
    loop = replace(TEXT_PRETRAIN_LOOP, max_minutes=args.pretrain_minutes, progress=False)
    cfg = PretrainConfig(out=str(out / "pretrain"), overwrite=True, objective="mlm", model=TEXT_MODEL,
                         mask_ratio=TEXT_MASK_RATIO, text=TEXT_OPTIONS, loop=loop)  # fmt: skip
    print(f"pre-training mlm/{TEXT_MODEL.encoder} for {args.pretrain_minutes:g} min on the unlabeled texts ...")
    trainer = Pretrainer(cfg).fit(train)
    minutes = trainer.result.seconds / 60
    meta = json.loads((trainer.run_dir / "ptft.json").read_text())
    print(f"  {trainer.result.steps} steps in {minutes:.1f} min, final loss {trainer.result.last_loss:.3f}, "
          f"{meta['metrics']['tokens_per_second']:,} tokens/s; corpus: {meta['data']['kept']} texts kept "
          f"(leakage removed {meta['data'].get('leakage', {}).get('removed', 0)})")
    overrides = {"vocab_size": TEXT_OPTIONS.vocab_size, "max_length": TEXT_OPTIONS.max_length, **TEXT_LEARNING_RATES}
    rows, cache = [], {}
    for per_class in args.labels:
        print(f"{per_class} labels per class:")
        rows += run_study(trainer.run_dir, train, test, per_class, list(range(args.seeds)), tuple(methods),
                          out / "finetune", TEXT_FINETUNE_LOOP, minutes, overrides=overrides, hf_path=hf_path,
                          cache=cache)  # fmt: skip
        print(table(rows))
    print()
    print(table(rows))
    print()
    for row in data_rows:
        print(f"throughput {row['step']:<20}: {row['lines_per_s']:>9,} lines/s")
    for row in speed:
        print(f"throughput mlm {row['precision']:<15}: {row['tokens_per_s']:>9,} tokens/s")
    for row in rows:
        row["pretrain_steps"] = trainer.result.steps if row["pretrain_minutes"] else 0
    written = save_json("wordnet.json", rows)
    for per_class in args.labels:
        comparison_bars([r for r in rows if r["labels_per_class"] == per_class],
                        RESULTS / f"wordnet_k{per_class}.png", f"WordNet supersenses, {per_class} labels per class")
    print(f"wrote {written} at {time.strftime('%Y-%m-%d %H:%M')}")


if __name__ == "__main__":
    main()

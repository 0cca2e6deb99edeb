"""WordNet noun supersenses throughput: cleaning + de-duplication (lines/s) and MLM pre-training (tokens/s,
fp32 and bf16) on the 87,926 training texts. Writes bench/results/wordnet_throughput.json. (Label
efficiency on WordNet: bench/compare.py --task wordnet-supersenses.)

    .venv/bin/python bench/wordnet.py      # ~3 min on 2 cores
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import replace
from pathlib import Path

import torch
from _common import save_json

from ptft.api import Pretrainer
from ptft.config import PretrainConfig
from ptft.data.corpus import prepare_corpus
from ptft.data.load import read_text_set
from ptft.demo import TEXT_MASK_RATIO, TEXT_MODEL, TEXT_OPTIONS, TEXT_PRETRAIN_LOOP

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
                             mask_ratio=TEXT_MASK_RATIO, loop=loop,
                             reader=replace(TEXT_OPTIONS, holdout="wordnet-supersenses:test"))  # fmt: skip
        trainer = Pretrainer(cfg).fit(train)
        meta = json.loads((trainer.run_dir / "ptft.json").read_text())
        rows.append({"objective": "mlm", "precision": precision, "tokens_per_s": meta["metrics"]["tokens_per_second"]})
        print(f"  mlm {precision}: {rows[-1]['tokens_per_s']:>8,} tokens/s")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--throughput-steps", type=int, default=20)
    parser.add_argument("--out", default=str(HERE / "runs" / "wordnet"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    train = read_text_set("wordnet-supersenses")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, load {os.getloadavg()[0]:.1f}")
    print(f"WordNet noun supersenses: {len(train)} training texts")
    print("data throughput:")
    data_rows = data_throughput(train.texts)
    print(f"MLM throughput ({TEXT_MODEL.depth}x{TEXT_MODEL.dim}, batch {TEXT_PRETRAIN_LOOP.batch_size}):")
    speed = mlm_throughput(train, out, args.throughput_steps)
    written = save_json("wordnet_throughput.json", {"data": data_rows, "mlm": speed})
    print(f"wrote {written} at {time.strftime('%Y-%m-%d %H:%M')}")


if __name__ == "__main__":
    main()

"""Memory while pre-training from prepared (memory-mapped) corpora of growing size, and `data prepare` speed.

Builds text corpora of about 100 MB and 1 GB from the WordNet glosses and examples (repeated, each line
numbered so no two are equal), tokenizes each with `ptft data prepare` (timed whole: start-up, fitting the
tokenizer on 100,000 texts, tokenizing; and the tokenizing alone, as the command reports it), then
pre-trains the same MLM model for a fixed number of steps from each, in a fresh process, and reports
the peak resident memory (ru_maxrss) of that process. Writes bench/results/memory.json.

    .venv/bin/python bench/memory.py                    # 100 MB and 1 GB (~10 min on 2 cores)
    .venv/bin/python bench/memory.py --sizes-mb 20 100  # a quick look
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

from _common import save_json

from ptft.data.load import read_text_set

HERE = Path(__file__).resolve().parent
PRETRAIN = """
import resource, sys
from ptft.api import Pretrainer
Pretrainer(data=sys.argv[1], out=sys.argv[2], overwrite=True, steps=int(sys.argv[3]), batch_size=128, dim=128,
           depth=4, heads=4, progress=False).fit()
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def build_corpus(path: Path, megabytes: int) -> int:
    texts = read_text_set("wordnet-supersenses").texts
    written, n = 0, 0
    with open(path, "w", encoding="utf-8") as fh:
        while written < megabytes * 1_000_000:
            line = f"{texts[n % len(texts)]} ({n})\n".replace("\r", " ")
            fh.write(line)
            written += len(line.encode("utf-8"))
            n += 1
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-mb", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--out", default=str(HERE / "runs" / "memory"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for size in args.sizes_mb:
        corpus = out / f"corpus-{size}mb.txt"
        lines = build_corpus(corpus, size)
        shards = out / f"shards-{size}mb"
        subprocess.run(["rm", "-rf", str(shards)], check=True)
        start = time.perf_counter()
        prepare = [sys.executable, "-m", "ptft", "data", "prepare", str(corpus), "--out", str(shards)]
        load = os.getloadavg()[0]  # other jobs on the machine slow both measurements down
        done = subprocess.run([*prepare, "--max-length", "64", "--fit-texts", "100000"], check=True,
                              capture_output=True, text=True)  # fmt: skip
        seconds = time.perf_counter() - start
        mb_s = corpus.stat().st_size / 1e6 / seconds
        # The CLI's own figure: tokenizing into shards only (no start-up, reading for or fitting the tokenizer).
        reported = re.search(r"([\d.]+) MB/s", done.stdout)
        tokenize_mb_s = float(reported.group(1)) if reported else None
        run = subprocess.run([sys.executable, "-c", PRETRAIN, str(shards), str(out / f"pre-{size}mb"), str(args.steps)],
                             check=True, capture_output=True, text=True)  # fmt: skip
        peak_mb = int(run.stdout.strip().splitlines()[-1]) / 1024  # ru_maxrss is in KiB on Linux
        cores = os.cpu_count() or 1
        row = {"corpus_mb": size, "texts": lines, "prepare_seconds": round(seconds, 1),
               "prepare_mb_per_s": round(mb_s, 2), "prepare_mb_per_s_per_core": round(mb_s / cores, 2),
               "tokenize_mb_per_s": tokenize_mb_s,
               "tokenize_mb_per_s_per_core": round(tokenize_mb_s / cores, 2) if tokenize_mb_s else None,
               "load_before": round(load, 2), "pretrain_steps": args.steps, "peak_rss_mb": round(peak_mb)}  # fmt: skip
        rows.append(row)
        print(f"{size:>6} MB corpus ({lines:,} texts): prepare {seconds:6.1f} s = {mb_s:5.2f} MB/s "
              f"({row['prepare_mb_per_s_per_core']:.2f} per core; tokenizing alone {tokenize_mb_s} MB/s); "
              f"pre-train {args.steps} steps: peak RSS {peak_mb:,.0f} MB")  # fmt: skip
        corpus.unlink()
    print(f"(this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB)")
    print(f"wrote {save_json('memory.json', rows)} at {time.strftime('%Y-%m-%d %H:%M')}")


if __name__ == "__main__":
    main()

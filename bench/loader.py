"""The loader alone: does feeding batches ever starve the model?

Prepares a token-shard corpus from the WordNet glosses (`ptft data prepare`'s code), then times ptft's
`BatchStream` over it with no model — length-bucketed shuffling, reading the memory-mapped shards and
padding each batch — with 0 and 2 `--workers`, and reports tokens/s next to the model's training rate
from bench/results/throughput.json (the same batch and sequence shape; run bench/throughput.py first
for a fresh figure). The loader is not a bottleneck while its rate is a large multiple of the model's.
Writes bench/results/loader.json.

    .venv/bin/python bench/loader.py
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from _common import RESULTS, save_json

from ptft.data.load import read_text_set
from ptft.preprocess import TextPipeline, TextTokenizer
from ptft.preprocess.shards import TokenShards, prepare_shards
from ptft.train.batches import BatchStream


def loader_rate(shards: TokenShards, batch: int, workers: int, batches: int) -> float:
    """Non-padding tokens per second delivered by a BatchStream over `shards` (best of three passes)."""
    best = 0.0
    for attempt in range(3):
        stream = BatchStream(shards, None, batch, seed=attempt, lengths=shards.lengths, workers=workers)
        stream.next()  # workers started, first batch ready
        start, tokens = time.perf_counter(), 0
        for _ in range(batches):
            x, _ = stream.next()
            tokens += int((x != shards.pad_id).sum())
        best = max(best, tokens / (time.perf_counter() - start))
        stream.close()
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--batches", type=int, default=400)
    args = parser.parse_args()
    texts = read_text_set("wordnet-supersenses").texts
    pipeline = TextPipeline(TextTokenizer(vocab_size=8000, max_length=args.seq)).fit(texts[:20000])
    model_rows = json.loads((RESULTS / "throughput.json").read_text())
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        prepare_shards(texts, Path(tmp) / "shards", pipeline, texts_per_shard=20000)
        shards = TokenShards(Path(tmp) / "shards")
        for workers in (0, 2):
            rate = loader_rate(shards, args.batch, workers, args.batches)
            rows.append({"workers": workers, "batch": args.batch, "seq": args.seq, "loader_tokens_per_s": round(rate)})
    for row in model_rows:
        if row["impl"] == "ptft":
            print(f"model ({row['precision']}, {row['layers']}x{row['width']}): {row['tokens_per_s']:>10,} tokens/s")
    fastest_model = max(r["tokens_per_s"] for r in model_rows if r["impl"] == "ptft")
    for row in rows:
        row["times_fastest_model"] = round(row["loader_tokens_per_s"] / fastest_model, 1)
        print(f"loader, {row['workers']} workers:      {row['loader_tokens_per_s']:>10,} tokens/s "
              f"= {row['times_fastest_model']}x the fastest model rate")  # fmt: skip
    save_json("loader.json", rows)


if __name__ == "__main__":
    main()

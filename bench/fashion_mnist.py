"""Fashion-MNIST pre-training throughput: images/s of each objective with the demo's CNN, fp32 and bf16.
Writes bench/results/fashion_mnist_throughput.json. (Label efficiency on Fashion-MNIST: bench/compare.py.)

    .venv/bin/python bench/fashion_mnist.py      # ~2 min on 2 cores
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import torch
from _common import save_json

from ptft.api import Pretrainer
from ptft.config import LoopConfig, PretrainConfig
from ptft.data.images import read_images
from ptft.demo import PRETRAIN_MODEL

HERE = Path(__file__).resolve().parent


def throughput(train, out: Path, steps: int) -> list[dict]:
    """Pre-training images/s of each objective with the demo's encoder, fp32 and bf16."""
    rows = []
    subset = train.subset(torch.arange(4096).numpy())
    for objective in ("simclr", "mae"):
        for precision in ("fp32", "bf16"):
            loop = LoopConfig(steps=steps, batch_size=256, log_every=steps, precision=precision, progress=False)
            cfg = PretrainConfig(out=str(out / f"tp-{objective}-{precision}"), overwrite=True, objective=objective,
                                 model=PRETRAIN_MODEL, loop=loop)
            result = Pretrainer(cfg).fit(subset).result
            images_per_s = steps * loop.batch_size / result.seconds
            rows.append({"objective": objective, "precision": precision, "images_per_s": round(images_per_s, 1)})
            print(f"  {objective:<7} {precision}: {images_per_s:7.1f} images/s")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--throughput-steps", type=int, default=10)
    parser.add_argument("--out", default=str(HERE / "runs" / "fashion_mnist"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    train = read_images("fashion-mnist")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, load {os.getloadavg()[0]:.1f}")
    print("pre-training throughput (demo CNN, batch 256):")
    written = save_json("fashion_mnist_throughput.json", throughput(train, out, args.throughput_steps))
    print(f"wrote {written} at {time.strftime('%Y-%m-%d %H:%M')}")


if __name__ == "__main__":
    main()

"""Fashion-MNIST label-efficiency benchmark: does pre-training on the unlabeled pool help?

One SimCLR pre-training run on the 60k training images (labels unused, time-boxed), then, for 10 and
100 labels per class x 3 seeds: logistic regression on pixels, the same CNN from scratch, a linear
probe, full fine-tuning and self-training, evaluated on the 10k official test images. Also measures
pre-training throughput (images/s) of each objective. Prints tables; writes
bench/results/fashion_mnist.json (a list of rows).

    .venv/bin/python bench/fashion_mnist.py                       # the full study (~25 min on 2 cores)
    .venv/bin/python bench/fashion_mnist.py --labels 10 --seeds 1 --pretrain-minutes 2   # a quick look
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import torch
from _common import RESULTS, save_json

from ptft.api import Pretrainer
from ptft.config import LoopConfig, PretrainConfig
from ptft.data.images import read_images
from ptft.demo import FINETUNE_LOOP, PRETRAIN_LOOP, PRETRAIN_MODEL
from ptft.evaluate.plots import comparison_bars
from ptft.evaluate.study import METHODS, run_study, table

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
    parser.add_argument("--labels", type=int, nargs="+", default=[10, 100], help="labels per class")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--pretrain-minutes", type=float, default=15.0)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--throughput-steps", type=int, default=10)
    parser.add_argument("--out", default=str(HERE / "runs" / "fashion_mnist"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    train, test = read_images("fashion-mnist"), read_images("fashion-mnist:test")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, load {os.getloadavg()[0]:.1f}")
    print("pre-training throughput (demo CNN, batch 256):")
    speed = throughput(train, out, args.throughput_steps)
    loop = LoopConfig(**{**PRETRAIN_LOOP.__dict__, "max_minutes": args.pretrain_minutes})
    cfg = PretrainConfig(out=str(out / "pretrain"), overwrite=True, objective="simclr", model=PRETRAIN_MODEL, loop=loop)
    print(f"pre-training simclr/cnn for {args.pretrain_minutes:g} min on {len(train)} unlabeled images ...")
    trainer = Pretrainer(cfg).fit(train)
    minutes = trainer.result.seconds / 60
    print(f"  {trainer.result.steps} steps in {minutes:.1f} min, final loss {trainer.result.last_loss:.3f}")
    rows = []
    for per_class in args.labels:
        print(f"{per_class} labels per class:")
        rows += run_study(trainer.run_dir, train, test, per_class, list(range(args.seeds)), tuple(args.methods),
                          out / "finetune", FINETUNE_LOOP, minutes)
    print()
    print(table(rows))
    print()
    for row in speed:
        print(f"throughput {row['objective']:<7} {row['precision']}: {row['images_per_s']:.0f} images/s")
    for row in rows:
        row["pretrain_steps"] = trainer.result.steps if row["pretrain_minutes"] else 0
    written = save_json("fashion_mnist.json", rows)
    save_json("fashion_mnist_throughput.json", speed)
    for per_class in args.labels:
        comparison_bars([r for r in rows if r["labels_per_class"] == per_class],
                        RESULTS / f"fashion_mnist_k{per_class}.png", f"Fashion-MNIST, {per_class} labels per class")
    print(f"wrote {written} at {time.strftime('%Y-%m-%d %H:%M')}")


if __name__ == "__main__":
    main()

"""Where an MLM training step spends its time: torch.profiler over ptft's step (bf16 autocast by default),
the operators ranked by self CPU time. Guides the speed work; writes bench/results/profile_mlm.json.

    .venv/bin/python bench/profile_mlm.py                      # 4 x 256, seq 128, batch 32, vocab 8k
    .venv/bin/python bench/profile_mlm.py --precision fp32
"""

from __future__ import annotations

import argparse
import time

import torch
from _common import save_json
from torch.profiler import ProfilerActivity, profile

from ptft.models import build_encoder
from ptft.objectives import build_objective
from ptft.train.optim import make_optimizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--vocab", type=int, default=8000)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--precision", default="bf16", choices=["fp32", "bf16"])
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    torch.manual_seed(0)
    spec = {"name": "transformer", "vocab_size": args.vocab, "pad_id": 0, "max_length": args.seq, "dim": args.width,
            "depth": args.layers, "heads": max(1, args.width // 64), "activation": "gelu", "dropout": 0.0}  # fmt: skip
    options = {"mask_ratio": 0.15}
    objective = build_objective("mlm", build_encoder(spec), options, mask_id=4, special_ids=[0, 1, 2, 3, 4])
    optimizer = make_optimizer([{"params": list(objective.parameters()), "lr": 1e-4}], 0.01)
    x = torch.randint(5, args.vocab, (args.batch, args.seq))

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16"):
            loss = objective(x)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(2):
        step()
    start = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(args.steps):
            step()
    seconds = (time.perf_counter() - start) / args.steps
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events)
    rows = [{"op": e.key, "self_cpu_share": round(e.self_cpu_time_total / total, 4), "calls": e.count // args.steps}
            for e in events[: args.top]]  # fmt: skip
    print(f"{args.layers} x {args.width}, seq {args.seq}, batch {args.batch}, {args.precision}: "
          f"{seconds * 1000:.0f} ms per step (profiled), {args.batch * args.seq / seconds:,.0f} tokens/s")  # fmt: skip
    print(f"{'operator':<45}{'self CPU':>10}{'calls/step':>12}")
    for row in rows:
        print(f"{row['op'][:44]:<45}{100 * row['self_cpu_share']:>9.1f}%{row['calls']:>12}")
    payload = {"config": vars(args), "ms_per_step": round(seconds * 1000, 1), "top_ops": rows}
    save_json(f"profile_mlm_{args.precision}.json", payload)


if __name__ == "__main__":
    main()

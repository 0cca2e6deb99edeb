"""MLM training throughput: ptft against Hugging Face `BertForMaskedLM`, same configuration, same data.

Both train the same model shape (layers, width, heads, vocabulary, sequence length, batch) on the same
packed WordNet token sequences, in this process, in interleaved turns (ptft, hf, ptft, hf, ...), so a
busy machine slows both alike; each turn is `--steps` optimiser steps after a warm-up, and the best
turn of each counts. Hugging Face trains as its examples do: `DataCollatorForLanguageModeling`
(15 %, 80/10/10) and `torch.optim.AdamW`. ptft: its `transformer` encoder and `mlm` objective (the
vocabulary projection only at the masked positions) with its fused AdamW.

MFU = model FLOPs per second / the matrix-multiply peak measured here first (a 2048^3 matmul, best of
several, per precision). Model FLOPs per step are counted by PyTorch's FlopCounterMode on a ptft step
(forward + backward). Writes bench/results/throughput.json.

    .venv/bin/python bench/throughput.py                  # 4 x 256, seq 128, batch 32, vocab 8k
    .venv/bin/python bench/throughput.py --layers 12 --width 768 --batch 16   # BERT-base shape (GPU)
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch
from _common import save_json
from torch.utils.flop_counter import FlopCounterMode

from ptft.config import DataConfig
from ptft.data.load import read_text_set
from ptft.models import build_encoder
from ptft.objectives import build_objective
from ptft.preprocess import TextPipeline, TextTokenizer
from ptft.train.optim import make_optimizer


def matmul_peak(dtype: torch.dtype, device: torch.device, n: int = 2048, repeats: int = 5) -> float:
    """Best measured FLOP/s of an n x n x n matrix multiply."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        a @ b
        sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def packed_sequences(pipeline: TextPipeline, texts: list[str], length: int) -> torch.Tensor:
    """All texts' tokens back to back, cut into rows of `length` ([CLS] ... [SEP] per text kept)."""
    ids = torch.tensor([token for row in pipeline.encode(texts) for token in row], dtype=torch.int64)
    rows = len(ids) // length
    return ids[: rows * length].view(rows, length)


def ptft_step_fn(args: argparse.Namespace, pipeline: TextPipeline, device: torch.device):
    spec = {"name": "transformer", "vocab_size": pipeline.tokenizer.vocab_size_, "pad_id": pipeline.pad_id,
            "max_length": args.seq, "dim": args.width, "depth": args.layers, "heads": args.heads,
            "activation": "gelu", "dropout": 0.0}  # fmt: skip
    objective = build_objective("mlm", build_encoder(spec), {"mask_ratio": 0.15}, mask_id=pipeline.tokenizer.mask_id_,
                                special_ids=pipeline.special_ids).to(device)  # fmt: skip
    optimizer = make_optimizer([{"params": list(objective.parameters()), "lr": 1e-4}], 0.01)

    def step(x: torch.Tensor, precision: str) -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = objective(x)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step, objective


def hf_step_fn(args: argparse.Namespace, pipeline: TextPipeline, device: torch.device):
    import transformers

    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=pipeline.tokenizer.tokenizer_, pad_token="[PAD]", mask_token="[MASK]", cls_token="[CLS]",
        sep_token="[SEP]", unk_token="[UNK]",
    )  # fmt: skip
    config = transformers.BertConfig(
        vocab_size=pipeline.tokenizer.vocab_size_, hidden_size=args.width, num_hidden_layers=args.layers,
        num_attention_heads=args.heads, intermediate_size=4 * args.width, max_position_embeddings=args.seq,
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, pad_token_id=pipeline.pad_id,
    )  # fmt: skip
    model = transformers.BertForMaskedLM(config).to(device).train()
    collator = transformers.DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15, return_tensors="pt")
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)

    def step(x: torch.Tensor, precision: str) -> None:
        batch = collator([{"input_ids": row} for row in x.cpu()])
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = model(input_ids=batch["input_ids"].to(device), labels=batch["labels"].to(device)).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def model_flops(objective: torch.nn.Module, x: torch.Tensor) -> int:
    with FlopCounterMode(display=False) as counter:
        objective(x).backward()
    objective.zero_grad(set_to_none=True)
    return int(counter.get_total_flops())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--vocab", type=int, default=8000)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=10, help="optimiser steps per turn")
    parser.add_argument("--turns", type=int, default=5, help="interleaved turns per implementation and precision")
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    parser.add_argument("--name", default="throughput.json", help="the file written in bench/results/")
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, device {device}, load {os.getloadavg()[0]:.1f}")  # fmt: skip
    peaks = {p: matmul_peak(torch.float32 if p == "fp32" else torch.bfloat16, device) for p in args.precisions}
    for p, peak in peaks.items():
        print(f"matmul peak {p}: {peak / 1e9:,.0f} GFLOP/s")
    texts = read_text_set("wordnet-supersenses").texts
    options = DataConfig(vocab_size=args.vocab, max_length=args.seq)
    pipeline = TextPipeline(TextTokenizer(options.tokenizer, options.vocab_size, options.max_length))
    pipeline.fit(texts[:50_000])
    data = packed_sequences(pipeline, texts, args.seq)
    print(f"model: {args.layers} layers x {args.width}, {args.heads} heads, vocab {pipeline.tokenizer.vocab_size_}, "
          f"seq {args.seq}, batch {args.batch}; data: {len(data)} packed WordNet sequences")  # fmt: skip
    ptft_step, objective = ptft_step_fn(args, pipeline, device)
    hf_step = hf_step_fn(args, pipeline, device)
    flops = model_flops(objective, data[: args.batch].to(device))
    steps = {"ptft": ptft_step, "hf": hf_step}
    best: dict[tuple[str, str], float] = {}
    cursor = 0
    for precision in args.precisions:
        for step in steps.values():  # warm-up
            step(data[: args.batch].to(device), precision)
        for _turn in range(args.turns):
            for impl, step in steps.items():
                batches = [data[(cursor + i * args.batch) % (len(data) - args.batch):][: args.batch]
                           for i in range(args.steps)]  # fmt: skip
                cursor += args.steps * args.batch
                sync(device)
                start = time.perf_counter()
                for x in batches:
                    step(x.to(device), precision)
                sync(device)
                rate = args.steps * args.batch * args.seq / (time.perf_counter() - start)
                best[(impl, precision)] = max(best.get((impl, precision), 0.0), rate)
    rows = []
    print(f"\n{'impl':<6}{'precision':>10}{'tokens/s':>12}{'vs hf':>8}{'MFU':>8}")
    for precision in args.precisions:
        for impl in steps:
            rate = best[(impl, precision)]
            row = {"impl": impl, "precision": precision, "tokens_per_s": round(rate),
                   "layers": args.layers, "width": args.width, "seq": args.seq, "batch": args.batch,
                   "vocab": pipeline.tokenizer.vocab_size_, "device": str(device)}  # fmt: skip
            ratio = rate / best[("hf", precision)]
            mfu = ""
            row["matmul_peak_flops"] = round(peaks[precision])
            if impl == "ptft":
                row["mfu"] = round(flops / (args.batch * args.seq) * rate / peaks[precision], 4)
                row["flops_per_step"] = flops
                row["ratio_vs_hf"] = round(ratio, 3)
                mfu = f"{100 * row['mfu']:.1f} %"
            print(f"{impl:<6}{precision:>10}{rate:>12,.0f}{ratio:>7.2f}x{mfu:>8}")
            rows.append(row)
    print(f"ptft model FLOPs per step (forward + backward): {flops / 1e9:.2f} GFLOP; "
          f"matmul peaks: " + ", ".join(f"{p} {v / 1e9:,.0f} GFLOP/s" for p, v in peaks.items()))
    print(f"wrote {save_json(args.name, rows)} at {time.strftime('%Y-%m-%d %H:%M')}")


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# The GPU checks of issue #11, one script, under ten minutes on one GPU (CI has none; nothing else needs it):
#   1. bench/throughput.py at BERT-base shape (12 x 768, 12 heads, seq 128, vocab 30k) in bf16, MFU against
#      the matmul peak measured on the same GPU (bench/results/throughput_gpu.json);
#   2. a 2-process nccl DDP pre-training of 300 steps (needs two GPUs: skipped, and said, with one);
#   3. the Fashion-MNIST demo with 5 minutes of SimCLR on the GPU, then compare at 20 labels per class in all.
# The figures are gathered in bench/results/gpu.json. Run from a checkout whose .venv `make test` made:
#     bash bench/gpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
RUNS=bench/runs/gpu
command -v nvidia-smi >/dev/null || { echo "bench/gpu.sh: no GPU here (nvidia-smi not found); nothing was run"; exit 1; }
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
"$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else "torch sees no GPU: install a CUDA build")'
mkdir -p "$RUNS"

echo "== 1/3 throughput, BERT-base shape, bf16"
timeout 180 "$PY" bench/throughput.py --layers 12 --width 768 --heads 12 --vocab 30522 --seq 128 --batch 64 \
    --precisions bf16 --turns 3 --steps 10 --name throughput_gpu.json

echo "== 2/3 DDP over nccl"
gpus=$(nvidia-smi -L | wc -l)
if [ "$gpus" -ge 2 ]; then
    timeout 150 "$PY" -m torch.distributed.run --nproc-per-node 2 -m ptft pretrain --data fashion-mnist \
        --objective simclr --encoder cnn --steps 300 --batch-size 256 --out "$RUNS/ddp" --overwrite --no-progress
else
    echo "one GPU: the 2-process nccl run needs two, skipped"
fi

echo "== 3/3 Fashion-MNIST: 5 minutes of SimCLR, then compare"
timeout 330 "$PY" -m ptft demo --task fashion-mnist --pretrain-minutes 5 --out "$RUNS/demo" --overwrite

"$PY" - "$RUNS" <<'EOF'
import json, sys
from pathlib import Path

runs, results = Path(sys.argv[1]), Path("bench/results")
ddp = runs / "ddp" / "ptft.json"
demo = json.loads((runs / "demo" / "compare" / "results.json").read_text())
pre = json.loads((runs / "demo" / "pretrain" / "ptft.json").read_text())["metrics"]
payload = {
    "throughput": json.loads((results / "throughput_gpu.json").read_text()),
    "ddp": json.loads(ddp.read_text())["metrics"] if ddp.is_file() else "skipped: one GPU",
    "fashion_mnist": {"pretrain": pre, "summary": demo["summary"], "verdicts": demo["verdicts"]},
}
(results / "gpu.json").write_text(json.dumps(payload, indent=2))
print(f"wrote {results / 'gpu.json'}")
EOF

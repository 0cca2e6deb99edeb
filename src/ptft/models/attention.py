"""Multi-head attention over (B, heads, T, head_size) tensors, picking the faster kernel for the case.

PyTorch's `scaled_dot_product_attention` is the default everywhere. On CPU in bf16 its fused kernel was
2-4x slower here than the plain computation (two batched matmuls and a softmax) for the sequence lengths
ptft trains on (64-256 tokens, head size 64; /tmp micro-benchmarks and bench/throughput.py, README), so
there ptft computes attention directly. The plain path rounds the scores to bf16 before the softmax, as
Hugging Face's "eager" attention does under autocast; the fused kernel accumulates in fp32. Both are bf16
training; fp32 and GPU runs keep the fused kernel.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, attn_mask: torch.Tensor | None, dropout: float
) -> torch.Tensor:
    """softmax(q k^T / sqrt(d) + mask) v, with `attn_mask` boolean (True = attend) broadcastable to
    (B, heads, T, T) and attention-probability dropout `dropout` (0 when not training)."""
    if q.device.type != "cpu" or q.dtype != torch.bfloat16:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout)
    scores = (q * q.shape[-1] ** -0.5) @ k.transpose(-1, -2)
    if attn_mask is not None:
        blocked = torch.zeros(attn_mask.shape, dtype=scores.dtype, device=scores.device)
        scores = scores + blocked.masked_fill(~attn_mask, float("-inf"))
    probs = scores.softmax(-1)
    if attn_mask is not None:  # a query that may attend to nothing gets zeros, as from SDPA (not NaN)
        probs = probs.masked_fill(~attn_mask.any(-1, keepdim=True), 0.0)
    if dropout > 0:
        probs = F.dropout(probs, dropout)
    return probs @ v

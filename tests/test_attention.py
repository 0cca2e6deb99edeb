"""ptft.models.attention: the plain bf16 CPU path computes what the fused kernel computes."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ptft.models.attention import attention


def qkv_and_mask(dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(3, 2, 10, 8, generator=gen).to(dtype) for _ in range(3))
    mask = torch.ones(3, 1, 1, 10, dtype=torch.bool)
    mask[1, ..., 6:] = False  # the second sequence has 4 padding positions
    return q, k, v, mask


def test_fp32_is_the_fused_kernel_exactly() -> None:
    q, k, v, mask = qkv_and_mask(torch.float32)
    assert torch.equal(attention(q, k, v, mask, 0.0), F.scaled_dot_product_attention(q, k, v, attn_mask=mask))


def test_bf16_plain_path_matches_fp32_attention_within_bf16_rounding() -> None:
    q, k, v, mask = qkv_and_mask(torch.bfloat16)
    want = F.scaled_dot_product_attention(q.float(), k.float(), v.float(), attn_mask=mask)
    for m in (mask, None):
        got = attention(q, k, v, m, 0.0)
        ref = want if m is not None else F.scaled_dot_product_attention(q.float(), k.float(), v.float())
        assert got.dtype == torch.bfloat16
        assert (got.float() - ref).abs().max() < 0.05


def test_bf16_padding_gets_no_attention_and_gradients_flow() -> None:
    q, k, v, mask = qkv_and_mask(torch.bfloat16)
    v = v.clone().requires_grad_(True)
    out = attention(q, k, v, mask, 0.0)
    out[1].sum().backward()
    assert v.grad is not None
    assert torch.equal(v.grad[1, :, 6:], torch.zeros_like(v.grad[1, :, 6:]))  # padded keys feed nothing
    assert v.grad[1, :, :6].abs().sum() > 0


def test_bf16_dropout_drops_probabilities_only_when_asked() -> None:
    q, k, v, mask = qkv_and_mask(torch.bfloat16)
    torch.manual_seed(0)
    assert not torch.equal(attention(q, k, v, mask, 0.5), attention(q, k, v, mask, 0.0))


def test_bf16_query_with_nothing_to_attend_to_gets_zeros_not_nan() -> None:
    q, k, v, mask = qkv_and_mask(torch.bfloat16)
    mask[2] = False  # the third sequence: every key masked
    got = attention(q, k, v, mask, 0.0)
    want = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # torch >= 2.5: zeros for such rows
    assert torch.isfinite(got).all()
    assert torch.equal(got[2], torch.zeros_like(got[2])) and torch.equal(want[2], torch.zeros_like(want[2]))

"""Pre-norm transformer trunk (attention by `ptft.models.attention`), and the ViT patch encoder.

ViT: Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words". Pre-norm blocks as in GPT-2 / nanoGPT.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ptft.models.activations import make_activation
from ptft.models.attention import attention
from ptft.models.base import ENCODERS, Encoder


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, activation: str, dropout: float, mlp_ratio: int = 4) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by heads {heads}")
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(
            nn.Linear(dim, mlp_ratio * dim), make_activation(activation), nn.Linear(mlp_ratio * dim, dim)
        )
        self.dropout = dropout

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None) -> torch.Tensor:
        B, T, D = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(B, T, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        drop = self.dropout if self.training else 0.0
        y = attention(q, k, v, attn_mask, drop)  # (B, nh, T, hs)
        x = x + F.dropout(self.proj(y.transpose(1, 2).reshape(B, T, D)), drop, self.training)
        return x + F.dropout(self.mlp(self.norm2(x)), drop, self.training)


class Trunk(nn.Module):
    """The shared transformer trunk: blocks + final norm over (B, T, D) tokens."""

    def __init__(self, dim: int, depth: int, heads: int, activation: str, dropout: float) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(Block(dim, heads, activation, dropout) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        attn_mask = None
        if pad_mask is not None:  # True = padding; SDPA's boolean mask is True = attend
            attn_mask = (~pad_mask)[:, None, None, :]
        for block in self.blocks:
            x = block(x, attn_mask)
        return self.norm(x)


@ENCODERS.register("vit")
class ViTEncoder(Encoder):
    """Patches of `patch_size` pixels -> tokens (+ learned positions) -> transformer trunk."""

    modality = "image"

    def __init__(
        self,
        input_shape: tuple[int, int, int] | list[int],
        dim: int = 128,
        depth: int = 4,
        heads: int = 4,
        patch_size: int = 4,
        activation: str = "gelu",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        c, h, w = input_shape
        if h % patch_size or w % patch_size:
            raise ValueError(f"image size {h}x{w} is not divisible by patch_size {patch_size}")
        self.dim = dim
        self.patch_size = patch_size
        self.grid = (h // patch_size, w // patch_size)
        self.patch_embed = nn.Conv2d(c, dim, kernel_size=patch_size, stride=patch_size)
        self.pos = nn.Parameter(torch.randn(1, self.grid[0] * self.grid[1], dim) * 0.02)
        self.trunk = Trunk(dim, depth, heads, activation, dropout)

    @property
    def blocks(self) -> nn.ModuleList:  # type: ignore[override]
        return self.trunk.blocks  # a view, not a second registration (safetensors refuses shared tensors)

    def forward(self, x: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        tokens = self.patch_embed(x).flatten(2).transpose(1, 2) + self.pos  # (B, T, D)
        return self.trunk(tokens, pad_mask)

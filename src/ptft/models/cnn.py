"""A small CNN encoder: conv stages with batch norm; its feature map is returned as (B, T, D) tokens."""

from __future__ import annotations

import torch
from torch import nn

from ptft.models.activations import make_activation
from ptft.models.base import ENCODERS, Encoder


def _stage(c_in: int, c_out: int, activation: str, pool: bool, dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        make_activation(activation),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        make_activation(activation),
    ]
    if pool:
        layers.append(nn.MaxPool2d(2))
    if dropout:
        layers.append(nn.Dropout2d(dropout))
    return nn.Sequential(*layers)


@ENCODERS.register("cnn")
class CNNEncoder(Encoder):
    """`depth` stages, widths dim/4, dim/2, dim, dim, ...; the first two halve the resolution."""

    modality = "image"

    def __init__(
        self,
        input_shape: tuple[int, int, int] | list[int],
        dim: int = 128,
        depth: int = 4,
        activation: str = "relu",
        dropout: float = 0.0,
        heads: int = 0,  # accepted so one ModelConfig builds any encoder; unused here
        patch_size: int = 0,
    ) -> None:
        super().__init__()
        c = input_shape[0]
        widths = [max(8, dim // 4), max(8, dim // 2)] + [dim] * max(0, depth - 2)
        widths = widths[:depth] if depth >= 1 else [dim]
        widths[-1] = dim
        stages, c_in = [], c
        for i, width in enumerate(widths):
            stages.append(_stage(c_in, width, activation, pool=i < 2, dropout=dropout))
            c_in = width
        self.blocks = nn.ModuleList(stages)
        self.dim = dim

    def forward(self, x: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        for stage in self.blocks:
            x = stage(x)
        return x.flatten(2).transpose(1, 2)  # (B, C, H', W') -> (B, H'W', D)

"""An MLP encoder over flattened inputs: the lightest option, one token out."""

from __future__ import annotations

import math

import torch
from torch import nn

from ptft.models.activations import make_activation
from ptft.models.base import ENCODERS, Encoder


@ENCODERS.register("mlp")
class MLPEncoder(Encoder):
    modality = "image"

    def __init__(
        self,
        input_shape: tuple[int, int, int] | list[int],
        dim: int = 256,
        depth: int = 2,
        activation: str = "gelu",
        dropout: float = 0.0,
        heads: int = 0,  # accepted so one ModelConfig builds any encoder; unused here
        patch_size: int = 0,
    ) -> None:
        super().__init__()
        width_in = math.prod(input_shape)
        layers = []
        for _ in range(max(1, depth)):
            layers.append(
                nn.Sequential(
                    nn.Linear(width_in, dim),
                    nn.LayerNorm(dim),
                    make_activation(activation),
                    nn.Dropout(dropout),
                )
            )
            width_in = dim
        self.blocks = nn.ModuleList(layers)
        self.dim = dim

    def forward(self, x: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x.flatten(1)
        for layer in self.blocks:
            x = layer(x)
        return x.unsqueeze(1)  # (B, 1, D)

"""Masked image modelling: hide random patches, reconstruct their pixels, loss on hidden ones only.

The masking and the loss follow MAE (He et al. 2022, "Masked Autoencoders Are Scalable Vision
Learners": random patch masking, a light decoder, loss on masked patches). Hidden patches are blanked
in the input, as in SimMIM (Xie et al. 2022), so every encoder in the registry (CNN, MLP, ViT) can be
pre-trained this way through the one encoder surface. The decoder is a single linear layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ptft.data.batch import Batch
from ptft.models.base import Encoder
from ptft.objectives.registry import OBJECTIVES, Objective


def patchify(x: torch.Tensor, p: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, N, p*p*C) with N = (H/p)(W/p), row-major patches."""
    B, C, H, W = x.shape
    x = x.reshape(B, C, H // p, p, W // p, p).permute(0, 2, 4, 3, 5, 1)
    return x.reshape(B, (H // p) * (W // p), p * p * C)


def random_patch_mask(B: int, N: int, ratio: float, device: torch.device) -> torch.Tensor:
    """(B, N) bool, True = hidden; exactly round(ratio * N) hidden patches per image."""
    hidden = max(1, min(N - 1, round(ratio * N)))
    order = torch.rand(B, N, device=device).argsort(dim=1)
    return order < hidden


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error per patch, averaged over hidden patches only.

    pred, target: (B, N, P); mask: (B, N) bool, True = hidden.
    """
    per_patch = (pred.float() - target.float()).pow(2).mean(dim=-1)  # (B, N)
    weights = mask.float()
    return (per_patch * weights).sum() / weights.sum().clamp_min(1.0)


@dataclass(frozen=True)
class MAEOptions:
    mask_ratio: float = 0.6  # fraction of patches hidden (of side --patch-size)

    def __post_init__(self) -> None:
        if not 0 < self.mask_ratio < 1:
            raise ValueError(f"mask_ratio must lie in (0, 1), got {self.mask_ratio}")


@OBJECTIVES.register("mae")
class MaskedImageModelling(Objective):
    modalities = ("image",)
    Options = MAEOptions

    def __init__(
        self,
        encoder: Encoder,
        options: MAEOptions,
        input_shape: tuple[int, int, int] | list[int],
        patch_size: int = 4,
    ) -> None:
        super().__init__()
        mask_ratio = options.mask_ratio
        C, H, W = input_shape
        if H % patch_size or W % patch_size:
            raise ValueError(f"image size {H}x{W} is not divisible by the mask patch size {patch_size}")
        self.encoder = encoder
        self.patch_size = patch_size
        self.mask_ratio = mask_ratio
        self.grid = (H // patch_size, W // patch_size)
        num_patches = self.grid[0] * self.grid[1]
        was_training = encoder.training
        with torch.no_grad():
            tokens = encoder.eval()(torch.zeros(2, C, H, W)).shape[1]  # eval: leave BN statistics alone
        encoder.train(was_training)
        self.per_token = tokens == num_patches  # token t <-> patch t: per-token linear decoder
        patch_pixels = patch_size * patch_size * C
        if self.per_token:
            self.decoder = nn.Linear(encoder.dim, patch_pixels)
        else:
            self.decoder = nn.Linear(tokens * encoder.dim, num_patches * patch_pixels)
        self.num_patches, self.patch_pixels = num_patches, patch_pixels

    def forward_encoder(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        B, C, H, W = x.shape
        p = self.patch_size
        mask = random_patch_mask(B, self.num_patches, self.mask_ratio, x.device)
        pixel_mask = mask.view(B, 1, self.grid[0], 1, self.grid[1], 1).expand(B, C, -1, p, -1, p)
        blanked = x.masked_fill(pixel_mask.reshape(B, C, H, W), 0.0)  # 0 = the dataset mean
        return self.encoder(blanked), mask

    def forward_decoder(self, features: torch.Tensor) -> torch.Tensor:
        B = features.shape[0]
        if self.per_token:
            return self.decoder(features)  # (B, N, P)
        return self.decoder(features.flatten(1)).view(B, self.num_patches, self.patch_pixels)

    def forward(self, batch: Batch, y: torch.Tensor | None = None) -> torch.Tensor:
        x = Batch.of(batch).x  # (B, C, H, W)
        features, mask = self.forward_encoder(x)
        return masked_mse(self.forward_decoder(features), patchify(x, self.patch_size), mask)

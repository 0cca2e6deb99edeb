"""Image augmentations done on batched tensors (no torchvision): one affine warp per sample.

Random resized crop + horizontal flip are a single `affine_grid`/`grid_sample` call; noise and
erasing are elementwise. Views for SimCLR (Chen et al. 2020) and light augmentation for fine-tuning.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ptft.data.batch import Batch


@dataclass(frozen=True)
class AugmentConfig:
    scale: tuple[float, float] = (0.35, 1.0)  # crop area as a fraction of the image
    ratio: tuple[float, float] = (0.75, 1.33)  # crop aspect ratio
    flip: bool = True
    noise: float = 0.1  # std of Gaussian noise (in normalised units)
    erase: float = 0.25  # probability of erasing one random rectangle
    brightness: float = 0.4  # random scale and shift of intensities


SIMCLR_VIEWS = AugmentConfig()
FINETUNE_LIGHT = AugmentConfig(scale=(0.7, 1.0), noise=0.0, erase=0.25, brightness=0.1)


def random_resized_crop(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator | None) -> torch.Tensor:
    B = x.shape[0]
    dev = x.device
    area = torch.empty(B, device=dev).uniform_(*cfg.scale, generator=gen)
    log_ratio = torch.empty(B, device=dev).uniform_(
        torch.log(torch.tensor(cfg.ratio[0])).item(),
        torch.log(torch.tensor(cfg.ratio[1])).item(),
        generator=gen,
    )
    ratio = log_ratio.exp()
    sx = (area * ratio).sqrt().clamp(max=1.0)  # half-widths in [-1, 1] coordinates
    sy = (area / ratio).sqrt().clamp(max=1.0)
    tx = (torch.rand(B, device=dev, generator=gen) * 2 - 1) * (1 - sx)
    ty = (torch.rand(B, device=dev, generator=gen) * 2 - 1) * (1 - sy)
    if cfg.flip:
        sign = torch.where(torch.rand(B, device=dev, generator=gen) < 0.5, -1.0, 1.0)
        sx = sx * sign
    theta = torch.zeros(B, 2, 3, device=dev)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = sx, tx, sy, ty
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def random_erase(x: torch.Tensor, prob: float, gen: torch.Generator | None) -> torch.Tensor:
    """Zero one random rectangle (1/16 to 1/4 of the area) in a `prob` fraction of the images."""
    B, _, H, W = x.shape
    dev = x.device
    h = (torch.empty(B, device=dev).uniform_(0.25, 0.5, generator=gen) * H).long()
    w = (torch.empty(B, device=dev).uniform_(0.25, 0.5, generator=gen) * W).long()
    top = (torch.rand(B, device=dev, generator=gen) * (H - h + 1)).long()
    left = (torch.rand(B, device=dev, generator=gen) * (W - w + 1)).long()
    rows = torch.arange(H, device=dev).view(1, H, 1)
    cols = torch.arange(W, device=dev).view(1, 1, W)
    inside = (
        (rows >= top.view(B, 1, 1))
        & (rows < (top + h).view(B, 1, 1))
        & (cols >= left.view(B, 1, 1))
        & (cols < (left + w).view(B, 1, 1))
    )
    chosen = (torch.rand(B, device=dev, generator=gen) < prob).view(B, 1, 1)
    return x.masked_fill((inside & chosen).unsqueeze(1), 0.0)


def augment(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator | None = None) -> torch.Tensor:
    """One random view of each image in a normalised batch (B, C, H, W)."""
    x = random_resized_crop(x, cfg, gen)
    if cfg.brightness:
        B = x.shape[0]
        scale = 1 + (torch.rand(B, 1, 1, 1, device=x.device, generator=gen) * 2 - 1) * cfg.brightness
        shift = (torch.rand(B, 1, 1, 1, device=x.device, generator=gen) * 2 - 1) * cfg.brightness
        x = x * scale + shift
    if cfg.noise:
        x = x + cfg.noise * torch.randn(x.shape, device=x.device, generator=gen)
    if cfg.erase:
        x = random_erase(x, cfg.erase, gen)
    return x


def light_view(batch: Batch) -> Batch:
    """Fine-tuning's light augmentation of an image batch (also FixMatch's weak view)."""
    return Batch.of(augment(batch.x, FINETUNE_LIGHT))


def strong_view(batch: Batch) -> Batch:
    """SimCLR's strong augmentation of an image batch (FixMatch's strong view)."""
    return Batch.of(augment(batch.x, SIMCLR_VIEWS))

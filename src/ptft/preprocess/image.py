"""`ImageNormalizer`: the fitted image preprocessing saved with every bundle.

Fitted once on the pre-training data (per-channel mean/std, target size and channel count) and
stored as plain JSON, so fine-tuning and prediction feed the model exactly as pre-training did.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ptft.data.batch import Batch
from ptft.errors import DataError


class ImageNormalizer:
    """sklearn-style: `fit` learns `mean_`, `std_`, `size_`, `channels_` and returns self."""

    kind = "image"

    def __init__(self, size: tuple[int, int] | None = None, channels: int | None = None) -> None:
        self.size = size
        self.channels = channels

    def fit(self, images: np.ndarray) -> ImageNormalizer:
        """Learn statistics from uint8 images (N, C, H, W); a sample of 10k is plenty."""
        if images.ndim != 4 or len(images) == 0:
            raise DataError(f"ImageNormalizer.fit needs uint8 images (N, C, H, W), got shape {images.shape}")
        self.size_ = tuple(self.size) if self.size else (int(images.shape[2]), int(images.shape[3]))
        self.channels_ = int(self.channels or images.shape[1])
        rng = np.random.default_rng(0)
        sample = images if len(images) <= 10_000 else images[rng.choice(len(images), 10_000, replace=False)]
        x = self._shape(torch.from_numpy(np.ascontiguousarray(sample))).float() / 255.0
        self.mean_ = x.mean(dim=(0, 2, 3)).tolist()
        self.std_ = x.std(dim=(0, 2, 3)).clamp_min(1e-3).tolist()
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "mean_"):
            raise RuntimeError("ImageNormalizer is not fitted: call fit() or load a bundle first")

    def _shape(self, x: torch.Tensor) -> torch.Tensor:
        """Channel count and spatial size to the fitted ones (uint8 or float in, same kind out)."""
        c = x.shape[1]
        want = getattr(self, "channels_", None) or self.channels or c
        if c != want:
            if c == 1:
                x = x.expand(-1, want, -1, -1)
            elif want == 1 and c in (3, 4):
                weights = torch.tensor([0.299, 0.587, 0.114], dtype=torch.float32).view(1, 3, 1, 1)
                x = (x[:, :3].float() * weights).sum(1, keepdim=True).round().to(x.dtype)
            else:
                raise DataError(f"cannot convert images with {c} channels to the {want} the model was fitted on")
        size = getattr(self, "size_", None) or self.size
        if size and tuple(x.shape[2:]) != tuple(size):
            dtype = x.dtype
            x = F.interpolate(x.float(), size=tuple(size), mode="bilinear", antialias=True, align_corners=False)
            x = x.round().clamp(0, 255).to(dtype) if dtype == torch.uint8 else x
        return x

    def transform(self, images: np.ndarray | torch.Tensor) -> torch.Tensor:
        """uint8 (N, C, H, W) -> normalised float32 (N, channels_, *size_)."""
        self._check_fitted()
        x = torch.as_tensor(images)
        if x.ndim == 3:
            x = x.unsqueeze(1)
        x = self._shape(x).float().div_(255.0)
        mean = torch.tensor(self.mean_).view(1, -1, 1, 1)
        std = torch.tensor(self.std_).view(1, -1, 1, 1)
        return (x - mean) / std

    def batch(self, images: np.ndarray | torch.Tensor, cleaned: bool = False) -> Batch:
        """The model's input for uint8 images: `{"x": normalised (N, C, H, W)}` (`cleaned` has no meaning here)."""
        return Batch.of(self.transform(images))

    def fit_transform(self, images: np.ndarray) -> torch.Tensor:
        return self.fit(images).transform(images)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        self._check_fitted()
        return (self.channels_, self.size_[0], self.size_[1])

    def state_dict(self) -> dict[str, Any]:
        self._check_fitted()
        return {
            "kind": self.kind,
            "size": list(self.size_),
            "channels": self.channels_,
            "mean": self.mean_,
            "std": self.std_,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ImageNormalizer:
        try:
            norm = cls(size=(int(state["size"][0]), int(state["size"][1])), channels=int(state["channels"]))
            norm.size_ = norm.size  # type: ignore[assignment]
            norm.channels_ = int(state["channels"])
            norm.mean_ = [float(v) for v in state["mean"]]
            norm.std_ = [float(v) for v in state["std"]]
        except (KeyError, TypeError, ValueError, IndexError, OverflowError) as exc:
            raise DataError(f"image preprocessor state is malformed ({exc!r}): {state}") from None
        return norm

"""Images: folders of PNG/JPEG (one sub-folder per class), `path,label` CSV lists, `.npz`, IDX files, a
memory-mapped uint8 `.npy` for pre-training, and the built-ins (Fashion-MNIST, digits). Normalised per
channel by `ImageNormalizer`; a small CNN and SimCLR by default; light crops and flips while fine-tuning,
SimCLR's views as FixMatch's strong view; logistic regression on standardised pixels as the baseline."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.preprocessing import StandardScaler

from ptft.config import DataConfig, ModelConfig
from ptft.data.builtin import BUILTIN_NAMES
from ptft.data.images import ACCEPTED_FORMS, read_images
from ptft.data.types import Examples, ImageSet
from ptft.modalities.base import MAYBE, MODALITIES, NOT_MINE, SURE, Baseline, Modality, PretrainInputs
from ptft.models.specs import image_encoder_spec
from ptft.objectives.augment import light_view, strong_view
from ptft.preprocess import ImageNormalizer, Preprocessor
from ptft.preprocess.mapped import MappedImages

IMAGE_SUFFIXES = (".npz", ".npy")


def _normalizer(preprocessor: Preprocessor) -> ImageNormalizer:
    assert isinstance(preprocessor, ImageNormalizer), "the image modality feeds images through ImageNormalizer"
    return preprocessor


def _images(examples: Examples) -> ImageSet:
    assert isinstance(examples, ImageSet), "the image modality reads ImageSets"
    return examples


def pixel_features(train: Examples, test: Examples, context: dict[str, Any]) -> tuple[Any, Any]:
    """Standardised pixels (the scaler fitted on the training images)."""
    x_train = _images(train).images.reshape(len(train), -1).astype(np.float32)
    scaler = StandardScaler().fit(x_train)
    x_test = _images(test).images.reshape(len(test), -1).astype(np.float32)
    return scaler.transform(x_train), scaler.transform(x_test)


class ImageModality(Modality):
    name = "image"
    examples = ImageSet
    default_encoder = "cnn"
    default_objective = "simclr"
    forms = ACCEPTED_FORMS + ", or a uint8 .npy (pre-training)"
    baselines = {"logreg": Baseline(pixel_features, 0.1, "logistic regression on standardised pixels")}

    def claim(self, spec: str, options: DataConfig) -> int:
        if spec in BUILTIN_NAMES:
            return SURE
        path = Path(spec).expanduser()
        if path.suffix.lower() in IMAGE_SUFFIXES or "idx" in path.name.lower():
            return SURE
        return MAYBE if path.is_dir() or path.suffix.lower() == ".csv" else NOT_MINE

    def builtin_names(self) -> list[str]:
        return list(BUILTIN_NAMES)

    def read(self, spec: str, data_dir: str, options: DataConfig, labels: bool) -> Examples:
        return read_images(spec, data_dir=data_dir, skip_bad=options.skip_bad)

    def from_memory(self, data: Any) -> Examples | None:
        return ImageSet(data) if isinstance(data, np.ndarray) else None

    def fit_preprocessor(self, examples: Examples, options: DataConfig, cleaned: bool = False) -> Preprocessor:
        return ImageNormalizer().fit(_images(examples).images)

    def content(self, examples: Examples) -> Any:
        return _images(examples).images

    def encoder_spec(self, model: ModelConfig, preprocessor: Preprocessor) -> dict[str, Any]:
        return image_encoder_spec(model, _normalizer(preprocessor).input_shape, self.default_encoder)

    def objective_context(self, model: ModelConfig, preprocessor: Preprocessor) -> dict[str, Any]:
        return {"input_shape": _normalizer(preprocessor).input_shape, "patch_size": model.patch_size}

    def prepared_source(self, spec: str, seed: int, share: Callable[[Any], Any]) -> PretrainInputs | None:
        """A uint8 `.npy` is memory-mapped and normalised batch by batch (statistics from rank 0's sample)."""
        if not spec.endswith(".npy"):
            return None
        images = MappedImages(spec)
        normalizer = ImageNormalizer.from_state(share(images.fit(seed).state_dict()))
        images.normalizer = normalizer  # the same statistics on every rank
        about = {"source": spec, "n": len(images), "fingerprint": f"npy:{Path(spec).stat().st_size}"}
        return PretrainInputs(normalizer, images, about, {"memory_mapped": True})


MODALITIES.register("image")(ImageModality(finetune_augment=light_view, views=(light_view, strong_view)))

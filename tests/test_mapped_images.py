"""Pre-training from a memory-mapped uint8 .npy of images: batches normalised on the fly with statistics
from a sample, never the float copy of the whole set; bad arrays are refused clearly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import ptft.preprocess.mapped as mapped
from ptft.api import Pretrainer
from ptft.data.types import ImageSet
from ptft.errors import DataError
from ptft.preprocess import ImageNormalizer
from ptft.preprocess.mapped import MappedImages


def test_batches_are_normalised_from_the_map(tmp_path: Path, labelled_images: ImageSet) -> None:
    path = tmp_path / "images.npy"
    np.save(path, labelled_images.images)
    images = MappedImages(path)
    assert isinstance(images.array, np.memmap) and len(images) == len(labelled_images)
    normalizer = images.fit()
    index = torch.tensor([5, 0, 99])
    expected = ImageNormalizer().fit(labelled_images.images).transform(labelled_images.images[[5, 0, 99]])
    torch.testing.assert_close(images[index].x, expected)  # the sample is the whole (small) set here
    assert normalizer.input_shape == labelled_images.shape


def test_the_normaliser_is_fitted_on_a_sample(tmp_path: Path, labelled_images: ImageSet, monkeypatch: Any) -> None:
    path = tmp_path / "images.npy"
    np.save(path, labelled_images.images[:, 0])  # (N, H, W) works too
    monkeypatch.setattr(mapped, "FIT_SAMPLE", 10)
    seen: list[int] = []
    fit = ImageNormalizer.fit
    monkeypatch.setattr(ImageNormalizer, "fit", lambda self, x: (seen.append(len(x)), fit(self, x))[1])
    MappedImages(path).fit()
    assert seen == [10]


def test_pretrain_from_a_npy(tmp_path: Path, labelled_images: ImageSet, tiny: dict[str, Any]) -> None:
    path = tmp_path / "images.npy"
    np.save(path, labelled_images.images)
    trainer = Pretrainer(data=str(path), out=str(tmp_path / "run"), encoder="cnn", steps=2, **tiny).fit()
    meta = json.loads((trainer.run_dir / "ptft.json").read_text())
    assert meta["data"]["memory_mapped"] is True and meta["data"]["n"] == len(labelled_images)
    assert meta["preprocessor"]["kind"] == "image"


@pytest.mark.parametrize("array", [np.zeros((4, 1, 8, 8), np.float32), np.zeros((0, 1, 8, 8), np.uint8), np.zeros(5)])
def test_bad_arrays_are_refused(tmp_path: Path, array: np.ndarray) -> None:
    path = tmp_path / "bad.npy"
    np.save(path, array)
    with pytest.raises(DataError, match="expected uint8 images"):
        MappedImages(path)
    path.write_bytes(b"not numpy")
    with pytest.raises(DataError, match="not a readable .npy"):
        MappedImages(path)

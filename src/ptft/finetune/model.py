"""A loaded bundle as a model: its preprocessing, encoder, optional head and label names, and what one does
with it — embed, predict, evaluate. `load(path)` checks the bundle's MANIFEST and never unpickles."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ptft.config import DataConfig
from ptft.data.batch import Batch
from ptft.data.labels import map_labels, numeric_targets
from ptft.data.types import Examples
from ptft.errors import BundleError, DataError
from ptft.evaluate.metrics import classification_report, regression_report
from ptft.finetune.predict import predict_proba, predict_values
from ptft.modalities import MODALITIES, Modality, read_data
from ptft.models import ClassificationHead, Classifier, Encoder, build_encoder
from ptft.models.base import pooled_embeddings
from ptft.models.heads import RegressionHead, head_from_entry
from ptft.preprocess import Preprocessor, preprocessor_from_state
from ptft.train.checkpoint import read_bundle

DataLike = str | Examples
Inputs = DataLike | np.ndarray | list[str]  # a spec, examples, or raw content of the model's modality


def build_head(meta: dict[str, Any], dim: int) -> ClassificationHead | RegressionHead | None:
    """The head a bundle's `head` entry describes (regression mean and std come with the weights)."""
    head = meta.get("head") or {}
    return head_from_entry(head, dim) if head else None


class Model:
    """A loaded bundle: its preprocessing, encoder, optional head and label names."""

    def __init__(
        self,
        meta: dict[str, Any],
        preprocessor: Preprocessor,
        encoder: Encoder,
        head: ClassificationHead | RegressionHead | None,
        path: Path,
    ) -> None:
        self.meta, self.path, self.preprocessor = meta, path, preprocessor
        self.modality: Modality = MODALITIES.get(preprocessor.kind)
        self.encoder, self.head = encoder, head
        self.label_names: list[str] = list(meta.get("label_names", []))
        config = meta.get("config", {})
        stored = config.get("reader") or config.get("text", {})  # "text" in bundles before tables
        # Files are read with the columns the model was trained with, unless the caller sets others.
        self.reader = DataConfig(**{k: stored[k] for k in ("text_column", "label_column", "id_column") if k in stored})
        self.module: torch.nn.Module = (encoder if head is None else Classifier(encoder, head)).eval().cpu()

    @classmethod
    def from_bundle(cls, meta: dict[str, Any], tensors: dict[str, torch.Tensor], path: Path) -> Model:
        encoder = build_encoder(meta["encoder"])
        head = build_head(meta, encoder.dim)
        model = cls(meta, preprocessor_from_state(meta["preprocessor"]), encoder, head, path)
        prefix = "encoder." if head is None else ""
        try:
            model.module.load_state_dict({k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)})
        except RuntimeError as exc:
            raise BundleError(f"{path}: weights do not match the stored model spec: {exc}") from None
        return model

    def read(self, data: Inputs, labels: bool = False) -> Examples:
        """Any accepted input as examples: a spec, examples, or raw content (uint8 images, a list of texts)."""
        if isinstance(data, Examples):
            return data
        if isinstance(data, str):
            return read_data(data, "", self.reader, labels)
        found = self.modality.from_memory(data)
        if found is None:
            raise DataError(
                f"cannot read a {type(data).__name__} as {self.modality.name} data; give {self.modality.forms}"
            )
        return found

    def transform(self, data: Inputs) -> Batch:
        return self.modality.batch(self.preprocessor, self.read(data))

    def embed(self, data: Inputs) -> np.ndarray:
        return pooled_embeddings(self.encoder, self.transform(data), batch_size=512).numpy()

    @property
    def is_regression(self) -> bool:
        return isinstance(self.head, RegressionHead)

    def _needs_head(self) -> None:
        if self.head is None:
            raise BundleError(f"{self.path} is a pre-trained encoder without a head; fine-tune it first")

    def predict_proba(self, data: Inputs) -> np.ndarray:
        self._needs_head()
        if self.is_regression:
            raise BundleError(f"{self.path} is a regression model: it predicts values, not class probabilities")
        return predict_proba(self.module, self.transform(data)).numpy()

    def predict_values(self, data: Inputs) -> np.ndarray:
        """Regression predictions in the targets' units."""
        if not self.is_regression:
            raise BundleError(f"{self.path} is not a regression model; use predict or predict_proba")
        return predict_values(self.module, self.transform(data))

    def predict(self, data: Inputs) -> list[str] | list[float]:
        """Class names, or values for a regression model."""
        if self.is_regression:
            return [float(v) for v in self.predict_values(data)]
        return [self.label_names[i] for i in self.predict_proba(data).argmax(1)]

    def evaluate(self, data: DataLike) -> dict[str, Any]:
        self._needs_head()
        loaded = self.read(data, labels=True)
        if self.is_regression:
            targets = numeric_targets(loaded)
            if np.isnan(targets).any():
                raise DataError(f"{loaded.source}: {int(np.isnan(targets).sum())} examples have no label")
            return regression_report(targets, self.predict_values(loaded))
        y_true = map_labels(loaded, self.label_names)
        proba = self.predict_proba(loaded)
        return classification_report(y_true, proba.argmax(1), self.label_names, proba)


def read_as(
    model: Model,
    spec: str,
    data_dir: str = "",
    text_column: str = "",
    label_column: str | None = "",
    skip_bad: int = 0,
    id_column: str = "",
) -> Examples:
    """Read `spec` for `model`; text columns left '' are those the model was trained with, and
    `label_column=None` reads no labels (prediction). `skip_bad`: this read's own budget of bad records to
    skip (not the one the model was trained with)."""
    text = dataclasses.replace(model.reader, skip_bad=skip_bad)
    if text_column:
        text = dataclasses.replace(text, text_column=text_column)
    if label_column:
        text = dataclasses.replace(text, label_column=label_column)
    if id_column:
        text = dataclasses.replace(text, id_column=id_column)
    return read_data(spec, data_dir, text, labels=label_column is not None)


def load(path: str | Path) -> Model:
    """Load a ptft run folder (checks its MANIFEST; never unpickles)."""
    meta, tensors = read_bundle(path)
    try:
        return Model.from_bundle(meta, tensors, Path(path))
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError) as exc:
        # The hashes matched, so the file is what was written - but not what this ptft writes.
        raise BundleError(f"{Path(path) / 'ptft.json'} does not describe a model ptft can build: {exc!r}") from None

"""Modalities: one file per kind of data (image, text, table), each declaring all that differs; the registry."""

from ptft.modalities import image, table, text  # noqa: F401  (registers the modalities)
from ptft.modalities.base import (
    MODALITIES,
    Baseline,
    Imported,
    Modality,
    PretrainInputs,
    modality_for,
    modality_of,
    read_data,
)

__all__ = [
    "MODALITIES",
    "Baseline",
    "Imported",
    "Modality",
    "PretrainInputs",
    "modality_for",
    "modality_of",
    "read_data",
]

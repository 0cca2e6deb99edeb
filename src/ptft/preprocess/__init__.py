"""Fitted, serialisable preprocessors (plain-JSON state, no pickle), one per modality, behind one protocol."""

from ptft.preprocess.base import PREPROCESSORS, Preprocessor, preprocessor_from_state
from ptft.preprocess.image import ImageNormalizer
from ptft.preprocess.pipeline import TextPipeline
from ptft.preprocess.table import TableNormalizer
from ptft.preprocess.text import TextTokenizer

PREPROCESSORS.register(ImageNormalizer.kind)(ImageNormalizer.from_state)
PREPROCESSORS.register(TextPipeline.kind)(TextPipeline.from_state)
PREPROCESSORS.register(TableNormalizer.kind)(TableNormalizer.from_state)

__all__ = [
    "PREPROCESSORS",
    "ImageNormalizer",
    "Preprocessor",
    "TableNormalizer",
    "TextPipeline",
    "TextTokenizer",
    "preprocessor_from_state",
]

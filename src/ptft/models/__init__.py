"""Models: encoders behind one surface, heads, and the registries that build them by name."""

from ptft.models import bert, cnn, mlp, table, text, transformer  # noqa: F401  (registers the encoders)
from ptft.models.activations import ACTIVATIONS
from ptft.models.base import ENCODERS, Encoder, build_encoder, mean_pool
from ptft.models.heads import ClassificationHead, Classifier

__all__ = [
    "ACTIVATIONS",
    "ENCODERS",
    "ClassificationHead",
    "Classifier",
    "Encoder",
    "build_encoder",
    "mean_pool",
]

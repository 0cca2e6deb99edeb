"""Evaluation: metrics, comparison tables and plots."""

from ptft.evaluate.metrics import classification_report

__all__ = ["classification_report"]

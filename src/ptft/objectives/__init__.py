"""Objectives: one file each (masking or views, head, a pure loss), and the registry by name."""

from ptft.objectives import byol, electra, mae, masked_cells, mlm, scarf, simclr, simcse  # noqa: F401  (registers)
from ptft.objectives.registry import OBJECTIVES, Objective, build_objective
from ptft.objectives.supervised import SupervisedClassification, classification_loss

__all__ = ["OBJECTIVES", "Objective", "SupervisedClassification", "build_objective", "classification_loss"]

"""Fine-tuning: strategies as parameter-group functions, the procedure, self-training, prediction."""

from ptft.finetune.predict import accuracy_of, predict_proba
from ptft.finetune.run import Interrupted, LabelledBatches, finetune
from ptft.finetune.strategies import STRATEGIES

__all__ = ["STRATEGIES", "Interrupted", "LabelledBatches", "accuracy_of", "finetune", "predict_proba"]

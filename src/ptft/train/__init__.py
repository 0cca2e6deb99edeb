"""Training: one loop, optimiser and schedule, precision/device/DDP helpers, bundle I/O, logging."""

from ptft.train.batches import BatchStream
from ptft.train.distributed import Dist, init_distributed
from ptft.train.guards import NonFiniteLoss
from ptft.train.loop import TrainResult, train

__all__ = ["BatchStream", "Dist", "NonFiniteLoss", "TrainResult", "init_distributed", "train"]

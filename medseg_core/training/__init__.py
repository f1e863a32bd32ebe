"""Training and fine-tuning of MedSeg models (no Qt)."""

from .augment import AugmentConfig
from .data import Pair, find_pairs, load_folder, prepare_pair, split_pairs
from .trainer import StepEvent, TrainConfig, TrainResult, ValidationEvent, train, train_iter
from .validate import validate_iter

__all__ = [
    "AugmentConfig",
    "Pair",
    "StepEvent",
    "TrainConfig",
    "TrainResult",
    "ValidationEvent",
    "find_pairs",
    "load_folder",
    "prepare_pair",
    "split_pairs",
    "train",
    "train_iter",
    "validate_iter",
]

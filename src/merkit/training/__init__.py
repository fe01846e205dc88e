"""Training layer: configuration, features, the training loop, registered methods, executors, experiments, demo."""

from merkit.training.config import (
    DataConfig,
    ExperimentConfig,
    FeatureConfig,
    ModelConfig,
    ProtocolConfig,
    RunConfig,
    TrainConfig,
    apply_overrides,
    config_from_dict,
    load_config,
)
from merkit.training.executor import ProcessPoolFoldExecutor
from merkit.training.experiment import ExperimentResult, run_experiment
from merkit.training.features import FeatureSet, SampleFeatureProvider
from merkit.training.loop import TrainHistory, predict_proba, train_loop
from merkit.training.methods import Method, create_method, get_method, list_methods, register_method

__all__ = [
    "DataConfig",
    "ExperimentConfig",
    "ExperimentResult",
    "FeatureConfig",
    "FeatureSet",
    "ModelConfig",
    "ProcessPoolFoldExecutor",
    "ProtocolConfig",
    "RunConfig",
    "Method",
    "SampleFeatureProvider",
    "TrainConfig",
    "TrainHistory",
    "apply_overrides",
    "config_from_dict",
    "create_method",
    "get_method",
    "list_methods",
    "load_config",
    "predict_proba",
    "register_method",
    "run_experiment",
    "train_loop",
]

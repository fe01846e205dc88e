"""Training layer: configuration, features, trainer, SVM baselines, executors, experiments, demo."""

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
from merkit.training.methods import SVMFitPredict, TorchFitPredict
from merkit.training.trainer import fit_model, predict_proba

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
    "SVMFitPredict",
    "SampleFeatureProvider",
    "TorchFitPredict",
    "TrainConfig",
    "apply_overrides",
    "config_from_dict",
    "fit_model",
    "load_config",
    "predict_proba",
    "run_experiment",
]

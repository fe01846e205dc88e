"""Experiments: a config file becomes a run directory.

The experiment file (:mod:`~merkit.experiments.config`), where its samples come from
(:mod:`~merkit.experiments.sources`), :func:`~merkit.experiments.run.run_experiment` dispatching
on the protocol's kind, the spotting runner (:mod:`~merkit.experiments.spotting`), the result
types (:mod:`~merkit.experiments.result`), fold executors and the demo.
"""

from merkit.experiments.config import (
    DataConfig,
    ExperimentConfig,
    MethodConfig,
    ModelConfig,
    ProtocolConfig,
    RunConfig,
    apply_overrides,
    config_from_dict,
    load_config,
)
from merkit.experiments.executors import ProcessPoolFoldExecutor, RayFoldExecutor
from merkit.experiments.result import ExperimentResult, RecognitionResult, SpottingResult
from merkit.experiments.run import fit_experiment, run_experiment

__all__ = ["DataConfig", "ExperimentConfig", "ExperimentResult", "MethodConfig", "ModelConfig",
           "ProcessPoolFoldExecutor", "ProtocolConfig", "RayFoldExecutor", "RecognitionResult", "RunConfig",
           "SpottingResult", "apply_overrides", "config_from_dict", "fit_experiment", "load_config",
           "run_experiment"]

"""merkit: facial micro-expression recognition with honest evaluation.

The public API in five names (each is a thin door into its layer; ``import merkit`` stays light)::

    import merkit
    table = merkit.load_dataset("casme2", "/data/CASME2")          # sample table (pandas)
    model = merkit.create_model("mier_cvt", num_classes=3)          # a registered torch model
    result = merkit.run_experiment("configs/ststnet/synthme.toml")  # LOSO, honest, resumable
    df = result.to_frame()                                          # one row per sample x seed
    clf = merkit.load_model("bundles/ststnet")                      # a saved model bundle
    clf.predict("path/to/frames")                                   # class probabilities
"""

from __future__ import annotations

import os
from typing import Any

from merkit._numerics import pin_portable_cpu_numerics
from merkit._version import __version__

# Before any torch operation: the same seed gives the same model on every x86-64 CPU (merkit/_numerics.py).
pin_portable_cpu_numerics()

__all__ = ["__version__", "load_dataset", "create_model", "run_experiment", "load_model"]


def load_dataset(name: str, root: str | os.PathLike | None = None, **options: Any):
    """The sample table of dataset ``name`` read from ``root`` (:func:`merkit.data.registry.load_dataset`)."""
    # lazy door: `import merkit` stays light; merkit.motion (cv2, scipy) registers apex_policy="motion_peak"
    import merkit.motion  # noqa: F401
    from merkit.data.registry import load_dataset as _load_dataset

    return _load_dataset(name, root, **options)


def create_model(name: str, **overrides: Any):
    """A registered model, e.g. ``create_model("ststnet", num_classes=5)`` (:func:`merkit.models.create_model`)."""
    from merkit.models import create_model as _create_model  # lazy door: merkit.models loads torch

    return _create_model(name, **overrides)


def run_experiment(config: Any, *, overrides: tuple[str, ...] = (), save_model: str | os.PathLike | None = None):
    """Run an experiment; returns a :class:`~merkit.experiments.result.RecognitionResult` or, for a spotting
    protocol, a :class:`~merkit.experiments.result.SpottingResult`.

    Args:
        config: a config file path (.toml/.yaml), a nested dict of sections, or an
            :class:`~merkit.experiments.config.ExperimentConfig`.
        overrides: ``"section.key=value"`` strings applied before validation (as ``--set``).
        save_model: also train on every sample and write a model bundle there.
    """
    # lazy door: the experiment layer loads torch
    from merkit.experiments.config import ExperimentConfig, apply_overrides, config_from_dict, load_config
    from merkit.experiments.run import run_experiment as _run

    if isinstance(config, ExperimentConfig):
        cfg = config if not overrides else config_from_dict(apply_overrides(config.to_dict(), overrides))
    elif isinstance(config, dict):
        cfg = config_from_dict(apply_overrides(config, overrides), source="run_experiment(config=dict)")
    else:
        cfg = load_config(config, overrides)
    return _run(cfg, save_model=save_model)


def load_model(path: str | os.PathLike):
    """A model bundle written by ``merkit fit`` or ``merkit train --save-model``.

    See :func:`merkit.deploy.bundle.load_model`.
    """
    from merkit.deploy.bundle import load_model as _load_model  # lazy door: the deploy layer loads torch

    return _load_model(path)

"""Run one experiment from an :class:`~merkit.experiments.config.ExperimentConfig`.

:func:`run_experiment` is what ``merkit train`` calls. It dispatches on the kind of the
protocol (:func:`merkit.evaluation.protocols.protocol_kind`) through :data:`RUNNERS`:
``"spotting"`` runs go to :func:`merkit.experiments.spotting.run_spotting_experiment`;
a ``"recognition"`` run

1. builds the sample table (:func:`merkit.experiments.sources.load_table`): SynthME, licensed
   datasets or a feature file;
2. builds the configured method (:mod:`merkit.training.methods`), computes its inputs once
   (``method.prepare``) and runs its shared pre-training if it has one (``method.pretrain``);
3. runs the protocol's folds for every seed through the chosen executor
   (``merkit.evaluation.runner.run_protocol``: per-fold predictions, resumable run directory,
   metrics, report); with ``data.shuffle_labels`` each seed first permutes the labels with its
   own permutation (the chance-level check);
4. adds a subject-level bootstrap interval (``bootstrap.json``) and the resolved configuration,

and returns a :class:`~merkit.experiments.result.RecognitionResult`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from merkit._io import write_json
from merkit._version import __version__
from merkit.deploy.bundle import fit_final_model, save_bundle
from merkit.errors import ConfigError
from merkit.evaluation.bootstrap import bootstrap_ci
from merkit.evaluation.protocols import create_protocol, protocol_kind
from merkit.evaluation.rundir import RunDirectory
from merkit.evaluation.runner import InProcessExecutor, run_protocol
from merkit.experiments.config import ExperimentConfig
from merkit.experiments.executors import ProcessPoolFoldExecutor, RayFoldExecutor
from merkit.experiments.result import ExperimentResult, RecognitionResult
from merkit.experiments.sources import load_table
from merkit.experiments.spotting import run_spotting_experiment
from merkit.inputs.feature_set import FeatureSet
from merkit.models import model_defaults
from merkit.training.grid_search import GridSearchFitPredict
from merkit.training.methods import create_method, method_name_for
from merkit.training.methods.descriptor_svm import DESCRIPTOR_BASELINES

__all__ = ["RUNNERS", "run_experiment", "fit_experiment", "feature_kind", "build_method"]

log = logging.getLogger(__name__)


def feature_kind(model_name: str, options: dict | None = None, method: str = "") -> str:
    """The input kind a model (or descriptor baseline) reads under its method, without building the model."""
    if model_name in DESCRIPTOR_BASELINES:
        return DESCRIPTOR_BASELINES[model_name]
    if options and options.get("inputs"):  # e.g. MiER-CvT's Table 5 input rows
        return str(options["inputs"])
    method_name_for(model_name, method)  # fails early on an unknown model
    return model_defaults(model_name)["inputs"]


def _executor(cfg: ExperimentConfig):
    threads = max(1, cfg.train.threads or 1)
    if cfg.run.executor == "process":
        return ProcessPoolFoldExecutor(cfg.run.workers, threads=threads)
    if cfg.run.executor == "ray":
        return RayFoldExecutor(cfg.run.address, cfg.run.workers, threads=threads)
    return InProcessExecutor()


def build_method(cfg: ExperimentConfig, prepared: pd.DataFrame, features: FeatureSet | None = None):
    """The configured method of ``cfg`` with its inputs for ``prepared`` computed (or ``features`` given)
    and its shared pre-training, if any, run for every seed of the run."""
    method = create_method(cfg)
    if features is not None:
        method.inputs = features
    else:
        method.prepare(prepared)
    method.pretrain(prepared, tuple(cfg.run.seeds))
    return method


def _table_and_features(cfg: ExperimentConfig, table, features):
    kind = feature_kind(cfg.model.name, cfg.model.options, cfg.method.name)
    if table is None:
        table, loaded = load_table(cfg.data, cfg.features.workers)
        if loaded is not None:
            if kind not in loaded:
                raise ConfigError(
                    f"model {cfg.model.name!r} reads {kind!r} features but {cfg.data.features_file!r} holds "
                    f"{sorted(loaded)!r}."
                )
            features = loaded[kind]
    return table, features


def run_experiment(
    cfg: ExperimentConfig,
    table: pd.DataFrame | None = None,
    features: FeatureSet | None = None,
    save_model: str | Path | None = None,
) -> ExperimentResult:
    """Run ``cfg`` end to end with the runner of its protocol's kind (module docstring).

    ``table``/``features`` skip steps 1 and 2 of a recognition run. ``save_model``: after the
    evaluation, train the deployable model on every sample of the table (seed ``run.seeds[0]``)
    and write it as a bundle there (:mod:`merkit.deploy.bundle`), with the evaluation's metrics
    in its card.
    """
    kind = protocol_kind(cfg.protocol.name)
    if kind == "spotting" and (save_model is not None or table is not None or features is not None):
        raise ConfigError(f"protocol {cfg.protocol.name!r} spots long videos and learns no model; drop "
                          f"--save-model (and table/features).")
    return RUNNERS[kind](cfg, table=table, features=features, save_model=save_model)


def run_recognition(
    cfg: ExperimentConfig,
    table: pd.DataFrame | None = None,
    features: FeatureSet | None = None,
    save_model: str | Path | None = None,
) -> RecognitionResult:
    """A recognition run (module docstring, steps 1-4)."""
    if save_model is not None and cfg.data.shuffle_labels:
        raise ConfigError("data.shuffle_labels trains on permuted labels (the chance check); such a model is not "
                          "worth saving. Drop --save-model or the shuffle.")
    table, features = _table_and_features(cfg, table, features)
    protocol = create_protocol(cfg.protocol.name, label_set=cfg.protocol.label_set, **cfg.protocol.options)
    prepared = protocol.prepare(table)
    progress = cfg.train.progress
    if cfg.run.executor != "inprocess":
        # per-epoch bars from parallel workers interleave; the runner shows one bar over folds
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, progress=False))
    method = build_method(cfg, prepared, features)
    fit_predict = method
    if cfg.grid.enabled:
        fit_predict = GridSearchFitPredict(method, cfg.grid)
    metrics = run_protocol(
        prepared,
        protocol,
        fit_predict,
        cfg.run.out_dir,
        seeds=cfg.run.seeds,
        config={"experiment": cfg.to_dict(), "merkit_version": __version__, "method": method.name},
        select_on_test=cfg.protocol.select_on_test,
        val_fraction=cfg.protocol.val_fraction,
        executor=_executor(cfg),
        method_name=cfg.run.method_name or cfg.model.name,
        progress=cfg.run.executor != "inprocess" and progress,
        label_shuffle_seed=cfg.data.synth_seed if cfg.data.shuffle_labels else None,
    )
    ci = None
    if cfg.run.bootstrap:
        predictions = RunDirectory(cfg.run.out_dir).read_predictions()
        ci = bootstrap_ci(predictions, protocol.classes, n_boot=cfg.run.bootstrap)
        write_json(Path(cfg.run.out_dir) / "bootstrap.json", ci)
    if save_model is not None:
        _save_final_model(cfg, method, prepared, protocol, save_model, metrics)
    return RecognitionResult(Path(cfg.run.out_dir), metrics, ci)


def _run_spotting(cfg: ExperimentConfig, **unused: object) -> ExperimentResult:
    return run_spotting_experiment(cfg)


#: protocol kind -> its runner (:func:`merkit.evaluation.protocols.protocol_kind`).
RUNNERS: dict[str, Callable[..., ExperimentResult]] = {"recognition": run_recognition, "spotting": _run_spotting}


def _save_final_model(cfg: ExperimentConfig, method, prepared: pd.DataFrame, protocol, out: str | Path,
                      metrics: dict | None) -> Path:
    if cfg.protocol.select_on_test:
        log.warning("the bundle's metrics come from a select_on_test run; its card says so")
    seed = int(cfg.run.seeds[0])
    fitted = fit_final_model(method, prepared, protocol.classes, seed, cfg.protocol.val_fraction)
    summary = None
    if metrics is not None:
        summary = {"protocol": cfg.protocol.name, "summary": metrics["summary"], "seeds": metrics["seeds"],
                   "select_on_test": metrics["select_on_test"], "metric_definition": metrics["metric_definition"]}
        if metrics.get("WARNING"):
            summary["WARNING"] = metrics["WARNING"]
    return save_bundle(out, method, fitted, table=prepared, label_set=cfg.protocol.label_set, metrics=summary,
                       seed=seed, config=cfg.to_dict())


def fit_experiment(cfg: ExperimentConfig, out: str | Path, table: pd.DataFrame | None = None) -> Path:
    """Train the configured method on every sample of the table (no evaluation) and write a bundle at ``out``.

    The protocol still applies its label set (and drops samples outside it); its folds are not run.
    """
    if cfg.data.shuffle_labels:
        raise ConfigError("data.shuffle_labels is the chance check; a model trained on permuted labels is not saved.")
    table, features = _table_and_features(cfg, table, None)
    protocol = create_protocol(cfg.protocol.name, label_set=cfg.protocol.label_set, **cfg.protocol.options)
    prepared = protocol.prepare(table)
    method = build_method(cfg, prepared, features)
    return _save_final_model(cfg, method, prepared, protocol, out, None)

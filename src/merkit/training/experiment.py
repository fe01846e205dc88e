"""Run one experiment from an :class:`~merkit.training.config.ExperimentConfig`.

:func:`run_experiment` is what ``merkit train`` calls:

1. build the sample table (:func:`load_table`): SynthME, licensed datasets or a feature file;
2. build the configured method (:mod:`merkit.training.methods`) and compute its
   inputs once (``method.prepare``);
3. run the protocol's folds for every seed through the chosen executor
   (``merkit.evaluation.runner.run_protocol``: per-fold predictions,
   resumable run directory, metrics, report); with ``data.shuffle_labels``
   each seed first permutes the labels with its own permutation (the
   chance-level check);
4. add a subject-level bootstrap interval (``bootstrap.json``) and the
   resolved configuration.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from merkit._io import write_json
from merkit.errors import ConfigError, DatasetNotFoundError
from merkit.evaluation.bootstrap import bootstrap_ci
from merkit.evaluation.protocols import create_protocol
from merkit.evaluation.rundir import RunDirectory
from merkit.evaluation.runner import InProcessExecutor, run_protocol
from merkit.training.config import DataConfig, ExperimentConfig
from merkit.training.features import FeatureSet

__all__ = ["ExperimentResult", "run_experiment", "fit_experiment", "load_table", "load_feature_file", "feature_kind",
           "build_method"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExperimentResult:
    """Where a run went and what it scored.

    Attributes:
        run_dir: the run directory.
        metrics: the ``metrics.json`` content (pooled, per dataset, per fold, per seed).
        bootstrap: the ``bootstrap.json`` content (None without bootstrap).
    """

    run_dir: Path
    metrics: dict
    bootstrap: dict | None

    def to_frame(self) -> pd.DataFrame:
        """Tidy predictions: one row per sample x seed (``sample_key``, ``subject_key``, ``dataset``,
        ``fold``, ``seed``, ``true_label``, ``pred_label``, ``prob_<class>``, ``select_on_test``)."""
        return RunDirectory(self.run_dir).read_predictions().reset_index(drop=True)

    def metrics_frame(self, by: str = "fold") -> pd.DataFrame:
        """Tidy metrics: one row per seed x group, ``by`` = ``"fold"``, ``"dataset"`` or ``"seed"`` (pooled).

        Columns: ``seed``, ``fold``/``dataset`` (absent for ``"seed"``), ``n``, ``uf1``, ``uar``,
        ``accuracy``, ``weighted_f1``.
        """
        keys = {"fold": "per_fold", "dataset": "per_dataset"}
        if by not in (*keys, "seed"):
            raise ConfigError(f"metrics_frame(by=...) must be 'fold', 'dataset' or 'seed'; got {by!r}.")
        rows = []
        for seed, part in self.metrics["per_seed"].items():
            groups = {None: part["pooled"]} if by == "seed" else part[keys[by]]
            for group, report in groups.items():
                row = {"seed": int(seed)}
                if group is not None:
                    row[by] = group
                row.update({k: report.get(k) for k in ("n", "uf1", "uar", "accuracy", "weighted_f1")})
                rows.append(row)
        return pd.DataFrame(rows)


def feature_kind(model_name: str, options: dict | None = None, method: str = "") -> str:
    """The input kind a model (or descriptor baseline) reads under its method, without building the model."""
    from merkit.training.methods import method_name_for
    from merkit.training.methods.descriptor_svm import DESCRIPTOR_BASELINES

    if model_name in DESCRIPTOR_BASELINES:
        return DESCRIPTOR_BASELINES[model_name]
    if options and options.get("inputs"):  # e.g. MiER-CvT's Table 5 input rows
        return str(options["inputs"])
    from merkit.models import model_defaults

    method_name_for(model_name, method)  # fails early on an unknown model
    return model_defaults(model_name)["inputs"]


def load_feature_file(path: str | Path) -> tuple[pd.DataFrame, dict[str, FeatureSet]]:
    """Read a precomputed feature file.

    The ``.npz`` holds string arrays ``sample_key``, ``subject_key``, ``dataset``,
    ``label`` (class names) and one float array per feature kind (e.g.
    ``flow_uv_strain`` of shape ``(N, 3, 28, 28)``), row ``i`` of each
    belonging to ``sample_key[i]``.

    Raises:
        DatasetNotFoundError: the file does not exist.
        ConfigError: a required array is missing or has the wrong length.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetNotFoundError(f"feature file {str(path)!r} does not exist.")
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    columns = ("sample_key", "subject_key", "dataset", "label")
    missing = [c for c in columns if c not in arrays]
    if missing:
        raise ConfigError(f"feature file {str(path)!r} lacks the arrays {missing!r}; expected {list(columns)!r}.")
    n = len(arrays["sample_key"])
    table = pd.DataFrame({c: arrays[c].astype(str) for c in columns})
    table["emotion"] = table["label"]
    features = {}
    for name, values in arrays.items():
        if name in columns:
            continue
        if len(values) != n:
            raise ConfigError(f"feature file {str(path)!r}: array {name!r} has {len(values)} rows; expected {n}.")
        features[name] = FeatureSet(table["sample_key"], values.astype(np.float32), name)
    return table, features


def _synth_table(cfg: DataConfig, workers: int = 1) -> pd.DataFrame:
    from merkit.data.composite import MEGC2019Composite
    from merkit.synth import generate

    root = Path(cfg.synth_root)
    gt = root / "combined_3class_gt.csv"
    if not gt.is_file():
        log.info("generating SynthME %r into %s", cfg.synth_preset, root)
        generate(root, preset=cfg.synth_preset, seed=cfg.synth_seed, workers=workers, **dict(cfg.synth_overrides))
    else:
        check_synth_tree(root, cfg)
    # SynthME writes the raw-frame layouts (CASME2_RAW_selected, SMIC_all_raw)
    return MEGC2019Composite(root, gt_csv=gt, casme2_variant="raw", smic_variant="raw").load()


def check_synth_tree(root: Path, cfg: DataConfig) -> None:
    """Refuse a SynthME tree under ``root`` generated with another preset, seed or parameters.

    Without this a tree left by an earlier run (another preset, or another rung of the amplitude
    ladder) would be used silently in place of the one ``cfg`` asks for.

    Raises:
        ConfigError: naming the differing parameters and what to do.
    """
    path = root / "manifest.json"
    if not path.is_file():
        raise ConfigError(f"{str(root)!r} holds a SynthME annotation file but no manifest.json, so its preset, "
                          f"seed and parameters cannot be checked; point data.synth_root to another folder.")
    saved = json.loads(path.read_text())
    wanted = json.loads(json.dumps(cfg.synth_config().to_dict()))  # tuples as lists, as the manifest stores them
    got = saved.get("parameters") or {}
    diff = [f"{k}: {got.get(k)!r} on disk, {wanted.get(k)!r} wanted" for k in sorted(set(wanted) | set(got))
            if k != "sources" and got.get(k) != wanted.get(k)]
    if got.get("sources") != wanted.get("sources"):
        diff.append("per-source parameters (sources) differ")
    if saved.get("seed") != cfg.synth_seed:
        diff.insert(0, f"seed: {saved.get('seed')!r} on disk, {cfg.synth_seed!r} wanted")
    if diff:
        raise ConfigError(f"the SynthME tree {str(root)!r} was generated with other settings ({'; '.join(diff)}); "
                          f"point data.synth_root to another folder (or delete this one) so the requested tree "
                          f"(preset {cfg.synth_preset!r}, seed {cfg.synth_seed}, synth_overrides "
                          f"{dict(cfg.synth_overrides)!r}) is generated.")


def load_table(cfg: DataConfig, workers: int = 1) -> tuple[pd.DataFrame, dict[str, FeatureSet] | None]:
    """The sample table of ``cfg`` (and features when they come with it, ``source="npz"``).

    ``workers`` processes render SynthME when it must be generated.
    """
    if cfg.source == "npz":
        return load_feature_file(cfg.features_file)
    if cfg.source == "synth":
        return _synth_table(cfg, workers), None
    from merkit.data.registry import load_dataset_spec

    if cfg.composite_gt:
        unknown = sorted(set(cfg.roots) - {"casme2", "samm", "smic_hs"})
        if unknown:
            raise ConfigError(f"data.roots {unknown!r} are not MEGC2019 composite sources; with data.composite_gt "
                              f"the roots are casme2, samm and smic_hs.")
        spec = dict(cfg.roots)
        if cfg.composite_gt != "official":  # "official": the packaged list
            spec["gt_csv"] = cfg.composite_gt
        return load_dataset_spec("megc2019_cde", spec), None
    tables = [load_dataset_spec(name, spec) for name, spec in sorted(cfg.roots.items())]
    return pd.concat(tables, ignore_index=True), None


def _executor(cfg: ExperimentConfig):
    threads = max(1, cfg.train.threads or 1)
    if cfg.run.executor == "process":
        from merkit.training.executor import ProcessPoolFoldExecutor

        return ProcessPoolFoldExecutor(cfg.run.workers, threads=threads)
    if cfg.run.executor == "ray":
        from merkit.training.executor import RayFoldExecutor

        return RayFoldExecutor(cfg.run.address, cfg.run.workers, threads=threads)
    return InProcessExecutor()


def build_method(cfg: ExperimentConfig, prepared: pd.DataFrame, features: FeatureSet | None = None):
    """The configured method of ``cfg`` with its inputs for ``prepared`` computed (or ``features`` given)."""
    from merkit.training.methods import create_method

    method = create_method(cfg)
    if features is not None:
        method.inputs = features
    else:
        method.prepare(prepared, tuple(cfg.run.seeds))
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
    """Run ``cfg`` end to end (module docstring); ``table``/``features`` skip steps 1 and 2.

    ``save_model``: after the evaluation, train the deployable model on every sample of the table
    (seed ``run.seeds[0]``) and write it as a bundle there (:mod:`merkit.training.bundle`), with the
    evaluation's metrics in its card.
    """
    from merkit.training.spotting_experiment import SPOTTING_PROTOCOL, run_spotting_experiment

    if cfg.protocol.name == SPOTTING_PROTOCOL:
        if save_model is not None:
            raise ConfigError(f"protocol {SPOTTING_PROTOCOL!r} learns no model; drop --save-model.")
        return run_spotting_experiment(cfg)
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
        from merkit.training.grid_search import GridSearchFitPredict

        fit_predict = GridSearchFitPredict(method, cfg.grid.spec())
    from merkit import __version__

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
    return ExperimentResult(Path(cfg.run.out_dir), metrics, ci)


def _save_final_model(cfg: ExperimentConfig, method, prepared: pd.DataFrame, protocol, out: str | Path,
                      metrics: dict | None) -> Path:
    from merkit.training.bundle import fit_final_model, save_bundle

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

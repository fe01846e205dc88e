"""The MEGC spotting protocol from an experiment file: ``[protocol] name = "megc_spotting"``.

``merkit train --config FILE`` with this protocol spots every long video of the
``[data] roots`` (long-video datasets: ``casme_sq``, ``samm_lv``, ``casme3_long``;
a root or a table of the loader's options, e.g. ``{ root = "...", fps = 200 }``)
with :class:`merkit.motion.spotting.SpotConfig` built from ``[protocol] options``
(unknown keys are errors), and scores the intervals with the MEGC metric
(:mod:`merkit.evaluation.spotting`: IoU >= 0.5, per type, per dataset, overall).

Honesty: the fixed-threshold methods (``flow_roi``, ``lbp_diff``) learn nothing
and their thresholds are fixed numbers of the config (``threshold_p``), chosen
before any video is seen, so every video is spotted on its own and no subject's
ground truth is used to choose anything; leave-one-subject-out would give the
same predictions (:mod:`merkit.evaluation.spotting_run`).

``method = "learnt"`` runs the learnt spotter (:mod:`merkit.motion.spotting.learnt`)
leave-one-subject-out: per held-out subject and seed, a spotter is fitted and its
thresholds chosen on the other subjects' videos only. Its options are the fields of
:class:`~merkit.motion.spotting.learnt.LearntSpotConfig` (``regressor``, ``seeds``,
``threshold_choice``, ...) beside the SpotConfig fields of its features (``crop_size``,
``head_motion``, ``max_fps``, ...); the fixed-threshold fields (``threshold``,
``threshold_p``, ``extent``, ...) are errors there, since it chooses its own.

The run directory holds ``predictions.csv``, ``metrics.csv``, ``per_video.csv``,
``run.json`` and ``config.yaml``; ``metrics.json`` holds the overall and per-type
precision, recall and F1. A learnt run adds ``per_fold.csv``, ``per_seed.csv`` and
``models/`` (:func:`~merkit.evaluation.spotting_run.write_loso_run`); its
``metrics.json`` pools the seeds' counts and adds ``per_seed``, ``per_fold`` and
``f1_over_seeds`` (mean and sd over the seeds).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from merkit._io import plain_data, write_json, write_text
from merkit._options import build, unknown_key
from merkit._version import __version__
from merkit.data.longvideo import list_long_datasets, load_long_videos
from merkit.errors import ConfigError
from merkit.evaluation.spotting_run import (
    seed_summary,
    spot_long_videos,
    spot_long_videos_loso,
    write_loso_run,
    write_spotting_run,
)
from merkit.experiments.config import ExperimentConfig, config_from_dict
from merkit.experiments.result import SpottingResult
from merkit.motion.spotting import SpotConfig
from merkit.motion.spotting.learnt import LearntSpotConfig

__all__ = ["SPOTTING_PROTOCOL", "LEARNT_METHOD", "run_spotting_experiment", "spotting_config", "learnt_options"]

SPOTTING_PROTOCOL = "megc_spotting"
#: ``[protocol] options`` ``method`` of the learnt spotter.
LEARNT_METHOD = "learnt"
# SpotConfig fields that only the fixed-threshold peak picking reads: the learnt spotter chooses its own
_FIXED_ONLY = ("method", "threshold", "threshold_p", "extent", "extent_fraction", "micro_max_s", "roi_measure",
               "roi_pooling", "lbp_grid", "noise_window_s", "warmup_s")


def learnt_options(options: dict, where: str = "protocol.options",
                   source: str = "config") -> tuple[SpotConfig, LearntSpotConfig]:
    """Split ``method = "learnt"`` options into the features' SpotConfig and the LearntSpotConfig.

    Raises:
        ConfigError: a key of neither, or a fixed-threshold SpotConfig field (naming it).
    """
    learnt_keys = set(LearntSpotConfig.__dataclass_fields__)
    spot_keys = set(SpotConfig.__dataclass_fields__) - set(_FIXED_ONLY)
    spot, learnt = {}, {}
    for key, value in options.items():
        if key == "method":
            continue
        if key in _FIXED_ONLY:
            raise ConfigError(f"{source}: {where}.{key} is an option of the fixed-threshold methods; the learnt "
                              f"spotter chooses its thresholds and extents on the training subjects. Remove it.")
        if key in learnt_keys:
            learnt[key] = value
        elif key in spot_keys:
            spot[key] = value
        else:
            raise unknown_key(where, str(key), sorted(learnt_keys | spot_keys | {"method"}), source)
    return build(SpotConfig, spot, where, source), build(LearntSpotConfig, learnt, where, source)


def spotting_config(dataset: str, root: str, out_dir: str, options: dict | None = None,
                    loader_options: dict | None = None) -> ExperimentConfig:
    """The one-dataset experiment that ``merkit spot ROOT --dataset NAME`` runs.

    Args:
        dataset: a long-video dataset name (``casme_sq``, ``samm_lv``, ``casme3_long``).
        root: its root folder.
        out_dir: the run directory.
        options: :class:`~merkit.motion.spotting.SpotConfig` options (``[protocol] options``).
        loader_options: further options of the loader (e.g. ``{"fps": 30}``).
    """
    return config_from_dict({
        "data": {"source": "datasets", "roots": {dataset: {"root": str(root), **(loader_options or {})}}},
        "protocol": {"name": SPOTTING_PROTOCOL, "options": dict(options or {})},
        "run": {"out_dir": str(out_dir)},
    }, source=f"merkit spot --dataset {dataset}")


def _load_videos(cfg: ExperimentConfig) -> list:
    if cfg.data.source != "datasets" or not cfg.data.roots:
        raise ConfigError(f"protocol {SPOTTING_PROTOCOL!r} reads long-video datasets: set data.source = 'datasets' "
                          f"and data.roots to some of {list_long_datasets()!r}.")
    videos = []
    for name, spec in sorted(cfg.data.roots.items()):
        if name not in list_long_datasets():
            raise ConfigError(f"data.roots.{name}: {name!r} is not a long-video dataset; protocol "
                              f"{SPOTTING_PROTOCOL!r} takes {list_long_datasets()!r}.")
        if isinstance(spec, dict):
            options = dict(spec)
            root = options.pop("root", None)
        else:
            options, root = {}, spec
        try:
            videos += load_long_videos(name, root, **options)
        except TypeError as exc:
            raise ConfigError(f"data.roots.{name}: bad loader option(s) {sorted(options)!r} ({exc}).") from None
    return videos


def run_spotting_experiment(cfg: ExperimentConfig, on_video: Callable[[Any], None] | None = None) -> SpottingResult:
    """Spot and score (module docstring); ``on_video(video)`` is called after each video (progress)."""
    options = dict(cfg.protocol.options or {})
    if options.get("method") == LEARNT_METHOD:
        return _run_learnt(cfg, options, on_video)
    spot_config = build(SpotConfig, options, "protocol.options")
    videos = _load_videos(cfg)
    out = Path(cfg.run.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "config.yaml", yaml.safe_dump(plain_data({"experiment": cfg.to_dict(),
                                                               "merkit_version": __version__}), sort_keys=True))
    run = spot_long_videos(videos, spot_config, on_video=on_video)
    write_spotting_run(run, out, ",".join(sorted(cfg.data.roots)))
    metrics = {
        "protocol": SPOTTING_PROTOCOL,
        "metric_definition": "MEGC spotting: a prediction is a TP when IoU >= 0.5 with an unmatched ground-truth "
                             "interval; counts pooled over videos",
        "overall": _scores(run.report.overall),
        "per_type": {kind: _scores(c) for kind, c in sorted(run.report.per_kind.items())},
        "per_dataset": {f"{d}/{k}": _scores(c) for (d, k), c in sorted(run.report.per_dataset.items())},
        "videos": len(videos),
        "minutes": round(run.minutes, 3),
        "select_on_test": False,
    }
    write_json(out / "metrics.json", metrics)
    return SpottingResult(out, metrics, None)


def _scores(counts: Any) -> dict:
    return {"tp": counts.tp, "fp": counts.fp, "fn": counts.fn, "precision": round(counts.precision, 4),
            "recall": round(counts.recall, 4), "f1": round(counts.f1, 4)}


def _run_learnt(cfg: ExperimentConfig, options: dict, on_video: Callable[[Any], None] | None) -> SpottingResult:
    """``method = "learnt"``: leave-one-subject-out fitting and spotting (module docstring)."""
    spot_config, learnt = learnt_options(options)
    videos = _load_videos(cfg)
    out = Path(cfg.run.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "config.yaml", yaml.safe_dump(plain_data({"experiment": cfg.to_dict(),
                                                               "merkit_version": __version__}), sort_keys=True))
    run = spot_long_videos_loso(videos, spot_config, learnt, on_video=on_video)
    write_loso_run(run, out, ",".join(sorted(cfg.data.roots)))
    per_fold: dict[str, dict] = {}
    for (fold, seed, kind), counts in sorted(run.per_fold().items()):
        per_fold.setdefault(fold, {}).setdefault(seed, {})[kind] = _scores(counts)
    metrics = {
        "protocol": SPOTTING_PROTOCOL,
        "method": LEARNT_METHOD,
        "metric_definition": "MEGC spotting: a prediction is a TP when IoU >= 0.5 with an unmatched ground-truth "
                             "interval; counts pooled over videos and over the seeds",
        "overall": _scores(run.pooled.overall),
        "per_type": {kind: _scores(c) for kind, c in sorted(run.pooled.per_kind.items())},
        "per_dataset": {f"{d}/{k}": _scores(c) for (d, k), c in sorted(run.pooled.per_dataset.items())},
        "per_seed": {str(seed): {"overall": _scores(r.overall),
                                 "per_type": {k: _scores(c) for k, c in sorted(r.per_kind.items())}}
                     for seed, r in run.reports.items()},
        "f1_over_seeds": seed_summary(run),
        "per_fold": per_fold,
        "videos": len(videos),
        "minutes": round(run.minutes, 3),
        "select_on_test": False,
        "protocol_detail": "leave-one-subject-out; thresholds chosen on the training subjects "
                           f"({learnt.threshold_choice!r}), never on the held-out one",
    }
    write_json(out / "metrics.json", metrics)
    return SpottingResult(out, metrics, None)

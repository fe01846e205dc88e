"""Where an experiment's sample table comes from: SynthME, licensed dataset roots, or a feature file."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from merkit.data.composite import MEGC2019Composite
from merkit.data.registry import load_dataset_spec
from merkit.errors import ConfigError, DatasetNotFoundError
from merkit.experiments.config import DataConfig
from merkit.inputs.feature_set import FeatureSet
from merkit.motion import keyframes as _keyframes  # noqa: F401  (registers apex_policy="motion_peak" for roots)
from merkit.synth import generate

__all__ = ["load_table", "load_feature_file", "check_synth_tree"]

log = logging.getLogger(__name__)


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

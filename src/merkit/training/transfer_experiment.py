"""Run the seed 003 method end to end from one TOML/YAML file (what ``merkit transfer`` calls).

File sections (strict: unknown sections or keys are a ConfigError naming them)::

    [data] [protocol] [run]   the engine's sections (merkit.training.config): micro data, protocol, seeds
    [transfer]                TransferConfig fields (model, scope, unfreeze, head, ...)
    [macro] [micro]           PhaseConfig of phase 1 and phase 2
    [gray_apex]               GrayApexConfig (crop size, eye margin, cache, workers)
    [macro_data]              sources = [{name = "ck_plus", root = "...", options = {...}}, ...] and/or
                              synth_root (a SynthME macro set, generated if missing; synth_* settings)
    [grid]                    enabled, batch_size, lr, epochs, inner_folds (nested search, grid_search.py)

Steps: micro table and protocol (engine), ``gray_apex_masked`` inputs for
the micro apex frames and the macro images, then per run seed: phase 1 on
the macro set (weights written to ``<out_dir>/transfer/seed<k>.pt``), and
the protocol's folds through the runner with phase 2 (optionally inside the
nested grid search).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from merkit._names import unknown_name
from merkit.errors import ConfigError
from merkit.training.apex_gray import GrayApexConfig, GrayApexProvider
from merkit.training.config import DataConfig, ProtocolConfig, RunConfig, apply_overrides, config_from_dict
from merkit.training.grid_search import GridSpec
from merkit.training.transfer import PhaseConfig, TransferConfig

__all__ = [
    "MacroDataConfig",
    "GridConfig",
    "TransferExperiment",
    "load_transfer_config",
    "load_macro_table",
    "run_transfer_experiment",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MacroDataConfig:
    """Where the macro-expression images come from.

    Attributes:
        sources: ``[{name, root, options}]`` for :func:`merkit.data.macro.load_macro`.
        synth_root: a SynthME macro set (class-per-folder); generated there if missing ("" : none).
        synth_seed: its generator seed.
        synth_subjects: its identities.
        synth_takes: poses per class and identity.
        synth_frames: frames per pose.
        synth_camera: SynthME preset of its camera.
    """

    sources: tuple = ()
    synth_root: str = ""
    synth_seed: int = 1000
    synth_subjects: int = 48
    synth_takes: int = 3
    synth_frames: int = 3
    synth_camera: str = "small"

    def __post_init__(self) -> None:
        if not self.sources and not self.synth_root:
            raise ConfigError("macro_data needs sources or synth_root; the transfer phase has no images otherwise.")
        for src in self.sources:
            if not isinstance(src, dict) or not {"name", "root"} <= set(src) or set(src) - {"name", "root", "options"}:
                raise ConfigError(f"macro_data.sources entries must be {{name, root[, options]}}; got {src!r}.")


@dataclass(frozen=True)
class GridConfig:
    """Nested grid search switch and grid (:class:`~merkit.training.grid_search.GridSpec`)."""

    enabled: bool = False
    batch_size: tuple = (32, 64)
    lr: tuple = (0.001, 0.007)
    epochs: tuple = (10, 30)
    inner_folds: int = 3

    def spec(self) -> GridSpec:
        return GridSpec(self.batch_size, self.lr, self.epochs, self.inner_folds)


@dataclass(frozen=True)
class TransferExperiment:
    """The whole seed 003 experiment."""

    data: DataConfig = field(default_factory=DataConfig)
    protocol: ProtocolConfig = field(default_factory=ProtocolConfig)
    run: RunConfig = field(default_factory=lambda: RunConfig(out_dir="runs/mobilevit_transfer"))
    transfer: TransferConfig = field(default_factory=TransferConfig)
    gray_apex: GrayApexConfig = field(default_factory=GrayApexConfig)
    macro_data: MacroDataConfig = field(default_factory=lambda: MacroDataConfig(synth_root="data/synthme_macro"))
    grid: GridConfig = field(default_factory=GridConfig)

    def to_dict(self) -> dict:
        return _plain(dataclasses.asdict(self))


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def _build(cls: type, raw: Any, section: str, base: Any = None) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"section [{section}] must be a table of keys; got {type(raw).__name__}.")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in raw.items():
        if key not in fields:
            raise unknown_name(f"key of [{section}]", key, fields)
        kwargs[key] = tuple(value) if isinstance(value, list) else value
        if fields[key].type in ("float", float) and isinstance(value, int) and not isinstance(value, bool):
            kwargs[key] = float(value)
    return dataclasses.replace(base, **kwargs) if base is not None else cls(**kwargs)


_OWN = ("transfer", "macro", "micro", "gray_apex", "macro_data", "grid")
_ENGINE = ("data", "protocol", "run")


def load_transfer_config(path: str | os.PathLike, overrides: tuple[str, ...] = ()) -> TransferExperiment:
    """Read a seed 003 experiment file (module docstring), apply ``section.key=value`` overrides, validate."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist.")
    text = path.read_text()
    if path.suffix == ".toml":
        import tomllib

        raw = tomllib.loads(text)
    elif path.suffix in (".yaml", ".yml"):
        raw = yaml.safe_load(text) or {}
    else:
        raise ConfigError(f"config file {str(path)!r}: expected a .toml, .yaml or .yml file.")
    raw = apply_overrides(raw, overrides)
    for name in raw:
        if name not in _OWN + _ENGINE:
            raise unknown_name(f"section of {path.name}", name, _OWN + _ENGINE)
    engine = config_from_dict({k: v for k, v in raw.items() if k in _ENGINE}, source=str(path))
    defaults = TransferConfig()
    transfer_raw = dict(raw.get("transfer", {}))
    for nested in ("macro", "micro"):
        if nested in transfer_raw:
            raise ConfigError(f"phase settings go in their own [{nested}] section, not in [transfer].")
    transfer = dataclasses.replace(
        _build(TransferConfig, transfer_raw, "transfer"),
        macro=_build(PhaseConfig, raw.get("macro", {}), "macro", base=defaults.macro),
        micro=_build(PhaseConfig, raw.get("micro", {}), "micro", base=defaults.micro),
    )
    run = engine.run if "run" in raw and "out_dir" in raw["run"] else dataclasses.replace(
        engine.run, out_dir="runs/mobilevit_transfer")
    return TransferExperiment(
        data=engine.data, protocol=engine.protocol, run=run, transfer=transfer,
        gray_apex=_build(GrayApexConfig, raw.get("gray_apex", {}), "gray_apex"),
        macro_data=_build(MacroDataConfig, raw.get("macro_data", {"synth_root": "data/synthme_macro"}), "macro_data"),
        grid=_build(GridConfig, raw.get("grid", {}), "grid"),
    )


def load_macro_table(cfg: MacroDataConfig) -> pd.DataFrame:
    """All macro images of ``cfg`` with ``macro3`` labels (a SynthME macro set is generated if missing)."""
    from merkit.data.macro import load_macro

    tables = []
    if cfg.synth_root:
        from merkit.synth.macro import MacroConfig, generate_macro

        root = Path(cfg.synth_root)
        wanted = MacroConfig(n_subjects=cfg.synth_subjects, takes_per_class=cfg.synth_takes,
                             frames_per_take=cfg.synth_frames, camera_preset=cfg.synth_camera)
        manifest = root / "macro_manifest.json"
        if not manifest.is_file():
            generate_macro(root, wanted, seed=cfg.synth_seed)
        else:
            _check_macro_manifest(manifest, wanted, cfg.synth_seed)
        tables.append(load_macro("image_folder", root, dataset="synthme_macro"))
    for src in cfg.sources:
        tables.append(load_macro(src["name"], src["root"], **dict(src.get("options", {}))))
    return pd.concat(tables, ignore_index=True)


def _check_macro_manifest(path: Path, wanted, seed: int) -> None:
    """Refuse a SynthME macro set written with other settings (e.g. an older generator's defaults).

    Without this, a set left from an earlier run would be used silently in place of the one the
    config asks for (seen in practice: a 12-identity set with the first, too subtle, defaults).
    """
    import json

    saved = json.loads(path.read_text())
    expected = {**dataclasses.asdict(wanted), "seed": int(seed)}
    got = {**saved.get("config", {}), "seed": saved.get("seed")}
    diff = {k: (got.get(k), v) for k, v in expected.items() if got.get(k) != v}
    if diff:
        detail = ", ".join(f"{k}: {a!r} on disk, {b!r} wanted" for k, (a, b) in sorted(diff.items()))
        raise ConfigError(f"the SynthME macro set {str(path.parent)!r} was written with other settings ({detail}); "
                          f"delete it so it is regenerated, or point macro_data.synth_root to another folder.")


def run_transfer_experiment(cfg: TransferExperiment, table: pd.DataFrame | None = None) -> dict:
    """Run ``cfg`` (module docstring); returns the runner's metrics (also in ``<out_dir>/metrics.json``)."""
    from merkit import __version__
    from merkit.evaluation.protocols import create_protocol
    from merkit.evaluation.runner import InProcessExecutor, run_protocol
    from merkit.training.experiment import load_table
    from merkit.training.grid_search import GridSearchFitPredict
    from merkit.training.transfer import pretrain_macro, save_transfer_weights
    from merkit.training.transfer_fold import TransferFitPredict

    if cfg.grid.enabled and cfg.transfer.micro.schedule != "fixed":
        raise ConfigError("grid.enabled searches the epochs, so micro.schedule must be 'fixed'.")
    if table is None:
        table, _ = load_table(cfg.data)
    protocol = create_protocol(cfg.protocol.name, label_set=cfg.protocol.label_set, **cfg.protocol.options)
    prepared = protocol.prepare(table)
    provider = GrayApexProvider(cfg.gray_apex, progress=True)
    features = provider.for_samples(prepared)
    states: dict[int, dict] = {}
    out = Path(cfg.run.out_dir)
    if cfg.transfer.transfer:
        macro_table = load_macro_table(cfg.macro_data)
        macro_x, kept = provider.for_images(macro_table)
        x = macro_x.take(kept["image_key"])
        for seed in cfg.run.seeds:
            weights = out / "transfer" / f"seed{seed}.pt"
            if weights.is_file():  # resume: phase 1 of this seed already ran
                from merkit.training.transfer import load_transfer_weights

                states[seed] = load_transfer_weights(weights)
                continue
            states[seed], history = pretrain_macro(x, kept["label"].tolist(), kept["subject_key"].tolist(),
                                                   protocol.classes, cfg.transfer, seed)
            save_transfer_weights(weights, states[seed])
            log.info("seed %d phase 1: kept epoch %d of %d", seed, history.best_epoch, len(history.train_loss))
    method = TransferFitPredict(cfg.transfer, features, states)
    fit_predict = GridSearchFitPredict(method, cfg.grid.spec()) if cfg.grid.enabled else method
    if cfg.run.executor == "process":
        from merkit.training.executor import ProcessPoolFoldExecutor

        executor = ProcessPoolFoldExecutor(cfg.run.workers, threads=max(1, cfg.transfer.micro.threads or 1))
    else:
        executor = InProcessExecutor()
    return run_protocol(
        prepared, protocol, fit_predict, out, seeds=cfg.run.seeds,
        config={"experiment": cfg.to_dict(), "merkit_version": __version__, "method": "seed003_transfer"},
        select_on_test=cfg.protocol.select_on_test, val_fraction=cfg.protocol.val_fraction, executor=executor,
        method_name=cfg.run.method_name or f"{cfg.transfer.model}+{cfg.transfer.head}"
        + ("" if cfg.transfer.transfer else " (no transfer)"),
    )


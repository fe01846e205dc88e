"""Experiment configuration: frozen dataclasses per concern, loaded from one TOML or YAML file.

An experiment file has up to eight sections, each a :class:`dataclass` with its
defaults in code (no inheritance between files)::

    [data]      where the samples come from (synthetic or dataset roots)
    [features]  how per-sample inputs are computed (flow method, size, descriptor)
    [model]     which model or classic baseline, with constructor options
    [method]    how it is trained (default: the model's own method) and that method's options
    [train]     optimiser, schedule, loss weighting, augmentation, device
    [grid]      optional nested grid search over batch size, lr and epochs (training subjects only)
    [protocol]  evaluation protocol, label set, validation fraction
    [run]       seeds, output folder, fold executor

Loading is strict: an unknown section or key is a :class:`ConfigError`
naming it (with the closest valid key), and so is a value of the wrong type
(``train.epochs = "ten"``). Integers are accepted where a float is expected.
``--set section.key=value`` overrides (:func:`apply_overrides`) are applied
to the raw file content before validation, so they are checked the same way.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from merkit._io import plain_data
from merkit._options import build, choice, did_you_mean, parse_value, positive
from merkit.errors import ConfigError
from merkit.inputs.config import FeatureConfig
from merkit.synth.config import get_preset
from merkit.training.settings import GridConfig, TrainConfig

__all__ = [
    "DataConfig",
    "FeatureConfig",
    "ModelConfig",
    "TrainConfig",
    "ProtocolConfig",
    "RunConfig",
    "MethodConfig",
    "GridConfig",
    "ExperimentConfig",
    "load_config",
    "config_from_dict",
    "apply_overrides",
]

#: Sections of the removed ``merkit transfer`` files, with how to rewrite each for ``merkit train``.
_REMOVED_SECTIONS = {
    "transfer": "[transfer] model -> [model] name, model_options -> [model] options, and its other keys "
                "(transfer, scope, unfreeze, unfreeze_every, head, svc_C, macro_val_fraction) -> "
                "[method] name = \"macro_transfer\" with those keys in [method] options",
    "micro": "[micro] (phase 2) -> [train] (same keys: epochs, batch_size, lr, optimizer, ...)",
    "macro": "[macro] (phase 1) -> [method] options.macro = { ... } (same keys)",
    "gray_apex": "[gray_apex] size/eye_margin -> [method] options.size / eye_margin; workers/cache_dir -> [features]",
    "macro_data": "[macro_data] -> [method] options.macro_data = { ... } (same keys)",
}


@dataclass(frozen=True)
class DataConfig:
    """Where the sample table comes from.

    Attributes:
        source: ``"synth"`` (a SynthME tree, generated if missing), ``"datasets"`` (licensed roots) or
            ``"npz"`` (precomputed features, see :func:`merkit.experiments.sources.load_feature_file`).
        synth_root: SynthME output folder (``source="synth"``).
        synth_preset: SynthME preset used when the tree must be generated (``tiny``, ``small``, ``full``).
        synth_seed: SynthME generator seed.
        synth_overrides: SynthME parameter overrides used when the tree is generated, keys as in
            :meth:`merkit.synth.SynthConfig.replace` (``{ amplitude_scale = 2.0, appearance_contrast
            = 0.05 }``, dotted keys such as ``"samm.camera.noise_sigma"`` reach per-source fields;
            docs/synthme.md). A tree already under ``synth_root`` must have been generated with the
            same preset, seed and parameters, or loading stops with an error.
        roots: dataset name -> its root folder, or a table of that loader's options
            (``smic_hs = { root = "/data/SMIC/SMIC_all_raw/HS", apex_policy = "motion_peak" }``;
            ``merkit datasets options NAME`` lists them; raw layouts are detected where unambiguous;
            ``source="datasets"``; relative paths are taken from the working directory).
        composite_gt: MEGC2019-style ground-truth CSV selecting and labelling the composite samples
            (``"official"``: the packaged MEGC2019 list; empty: load every sample of ``roots`` and
            label it by the protocol's label set).
        features_file: the ``.npz`` of ``source="npz"``.
        shuffle_labels: the chance-level check: each run seed permutes the labels of the prepared
            table with its own permutation (drawn from ``synth_seed`` and the run seed); must
            score at chance, and the spread over seeds is the spread of chance.
    """

    source: str = "synth"
    synth_root: str = "synthme"
    synth_preset: str = "small"
    synth_seed: int = 0
    synth_overrides: dict = field(default_factory=dict)
    roots: dict = field(default_factory=dict)
    composite_gt: str = ""
    features_file: str = ""
    shuffle_labels: bool = False

    def __post_init__(self) -> None:
        choice("data.source", self.source, ("synth", "datasets", "npz"))
        if self.source == "npz" and not self.features_file:
            raise ConfigError("data.features_file is empty but data.source is 'npz'; give the .npz path.")
        if self.source == "datasets" and not self.roots:
            raise ConfigError("data.roots is empty but data.source is 'datasets'; give at least one dataset root.")
        if self.synth_overrides:
            self.synth_config()  # unknown keys (naming the closest) and bad values fail here, not later

    def synth_config(self):
        """The :class:`~merkit.synth.SynthConfig` of ``synth_preset`` with ``synth_overrides``."""
        try:
            return get_preset(self.synth_preset).replace(**dict(self.synth_overrides))
        except ConfigError as exc:
            raise ConfigError(f"data.synth_overrides: {exc}") from None


@dataclass(frozen=True)
class ModelConfig:
    """Which model: a registered torch model (``merkit models``) or a classic baseline.

    Attributes:
        name: a registered model name, or a descriptor baseline (``biwoof_svm``, ``lbptop_svm``).
        options: constructor options of the model (``create_model(name, **options)``); how it is
            trained is the ``[method]`` section's business.
    """

    name: str = "ststnet"
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class MethodConfig:
    """How the model is trained (``merkit.training.methods``; docs/training.md lists each method's options).

    Attributes:
        name: a registered method (``supervised``, ``descriptor_svm``, ``multitask_clips``,
            ``flow_pretrain_finetune``, ``macro_transfer``); "" uses the model's default method.
        options: that method's typed options (unknown keys are errors naming the valid ones).
    """

    name: str = ""
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ProtocolConfig:
    """Evaluation protocol (``merkit.evaluation.create_protocol``).

    Attributes:
        name: ``megc2019_composite``, ``loso``, ``cross_dataset`` or ``leave_one_dataset_out``.
        label_set: label set name (``megc3``, ``casme2_5``, ``samm_5``).
        options: further protocol arguments (``dataset`` for ``loso``; ``train``/``test`` for ``cross_dataset``).
        val_fraction: share of training subjects held out for validation (honest mode).
        select_on_test: paper-style selection on the test subject; optimistic, flagged in every output.
    """

    name: str = "megc2019_composite"
    label_set: str = "megc3"
    options: dict = field(default_factory=dict)
    val_fraction: float = 0.2
    select_on_test: bool = False

    def __post_init__(self) -> None:
        if not 0.0 < self.val_fraction < 1.0:
            raise ConfigError(f"protocol.val_fraction must be in (0, 1); got {self.val_fraction!r}.")


@dataclass(frozen=True)
class RunConfig:
    """Seeds, output folder and fold executor.

    Attributes:
        seeds: run seeds; metrics are reported per seed and as mean and std.
        out_dir: the run directory (resumed if it holds the same configuration).
        executor: ``"inprocess"``, ``"process"`` (a local process pool) or ``"ray"`` (Ray tasks; needs
            ``pip install 'merkit[ray]'``).
        address: with ``executor = "ray"``, an existing cluster (``"auto"``, ``"ray://host:10001"``);
            "" starts a local one with ``workers`` CPUs.
        workers: processes of the pool (CPUs of a local Ray cluster).
        method_name: row name in reports ("" -> the model name).
        bootstrap: bootstrap resamples for the confidence interval (0: none).
    """

    seeds: tuple = (0,)
    out_dir: str = "runs/experiment"
    executor: str = "inprocess"
    address: str = ""
    workers: int = 2
    method_name: str = ""
    bootstrap: int = 1000

    def __post_init__(self) -> None:
        if not self.seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in self.seeds):
            raise ConfigError(f"run.seeds must be a non-empty list of integers; got {list(self.seeds)!r}.")
        choice("run.executor", self.executor, ("inprocess", "process", "ray"))
        positive("run.workers", self.workers)
        positive("run.bootstrap", self.bootstrap, allow_zero=True)


@dataclass(frozen=True)
class ExperimentConfig:
    """The whole experiment: one instance per config file."""

    data: DataConfig = field(default_factory=DataConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    grid: GridConfig = field(default_factory=GridConfig)
    protocol: ProtocolConfig = field(default_factory=ProtocolConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def to_dict(self) -> dict:
        """Plain nested dict (tuples as lists), as written to the run's ``config.yaml``."""
        return plain_data(dataclasses.asdict(self))



_SECTIONS: dict[str, type] = {
    "data": DataConfig, "features": FeatureConfig, "model": ModelConfig, "method": MethodConfig,
    "train": TrainConfig, "grid": GridConfig, "protocol": ProtocolConfig, "run": RunConfig,
}


def config_from_dict(raw: dict, source: str = "config") -> ExperimentConfig:
    """Validate a nested dict (as read from TOML/YAML) into an :class:`ExperimentConfig`.

    Raises:
        ConfigError: naming the unknown section/key or the key with a wrong type or value.
    """
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of sections; got {type(raw).__name__}.")
    sections = {}
    removed = [name for name in raw if name in _REMOVED_SECTIONS]
    if removed:
        steps = "; ".join(_REMOVED_SECTIONS[name] for name in removed)
        raise ConfigError(f"{source}: sections {removed!r} belong to the removed `merkit transfer` file format. "
                          f"Rewrite it as a `merkit train` file: {steps}. "
                          "See configs/mobilevit_me/transfer_synthme.toml.")
    for name, content in raw.items():
        if name not in _SECTIONS:
            raise ConfigError(f"unknown section in {source}: {name!r}; valid: {sorted(_SECTIONS)!r}."
                              f"{did_you_mean(name, _SECTIONS)}")
        if not isinstance(content, dict):
            raise ConfigError(f"{source}: section {name!r} must be a table of keys; got {type(content).__name__}.")
        sections[name] = build(_SECTIONS[name], content, name, source)
    return ExperimentConfig(**sections)


def apply_overrides(raw: dict, overrides: list[str] | tuple[str, ...]) -> dict:
    """Apply ``section.key=value`` overrides to a raw config dict; returns a new dict.

    Deeper names reach into tables: ``method.options.size=64`` or ``method.options.macro.epochs=2``
    change one key and keep the others (``method.options={...}`` replaces the whole table).

    Raises:
        ConfigError: for an override without ``=``, a name shorter than ``section.key``, or a name that
            goes through a value that is not a table.
    """
    out = copy.deepcopy(dict(raw or {}))
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like section.key=value (e.g. train.lr=1e-4).")
        dotted, text = item.split("=", 1)
        parts = dotted.strip().split(".")
        if len(parts) < 2 or not all(parts):
            raise ConfigError(f"override {item!r}: the name must be section.key (e.g. train.lr); got {dotted!r}.")
        node = out
        for depth, part in enumerate(parts[:-1]):
            if part not in node:
                node[part] = {}
            if not isinstance(node[part], dict):
                raise ConfigError(f"override {item!r}: {'.'.join(parts[:depth + 1])!r} is not a table, so it has "
                                  f"no key {parts[depth + 1]!r}.")
            node = node[part]
        node[parts[-1]] = parse_value(text)
    return out


def load_config(path: str | os.PathLike, overrides: list[str] | tuple[str, ...] = ()) -> ExperimentConfig:
    """Read a ``.toml``, ``.yaml`` or ``.yml`` experiment file, apply overrides and validate it.

    Raises:
        ConfigError: for a missing file, an unknown extension, a parse error, or an invalid key/value.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist.")
    text = path.read_text()
    try:
        if path.suffix == ".toml":
            raw = tomllib.loads(text)
        elif path.suffix in (".yaml", ".yml"):
            raw = yaml.safe_load(text)
        else:
            raise ConfigError(f"config file {str(path)!r}: expected a .toml, .yaml or .yml file.")
    except (ValueError, yaml.YAMLError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"config file {str(path)!r} cannot be parsed: {exc}") from None
    return config_from_dict(apply_overrides(raw or {}, overrides), source=str(path))



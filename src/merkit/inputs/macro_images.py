"""The macro-expression images of ``macro_transfer``'s phase 1: where they come from, one table of them.

``[method] options.macro_data`` is a :class:`MacroDataConfig`: licensed
macro sets read by :func:`merkit.data.macro.load_macro` (CK+, Oulu-CASIA,
JAFFE, MUG; ``sources``) and/or a SynthME macro set (``synth_root``,
generated there if missing). docs/models/mobilevit_me.md describes both.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from merkit.data.macro import load_macro
from merkit.errors import ConfigError

__all__ = ["MacroDataConfig", "load_macro_table"]


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


def load_macro_table(cfg: MacroDataConfig) -> pd.DataFrame:
    """All macro images of ``cfg`` with ``macro3`` labels (a SynthME macro set is generated if missing)."""
    tables = []
    if cfg.synth_root:
        # deferred: merkit.synth pulls cv2; only a missing SynthME macro set is generated
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
    saved = json.loads(path.read_text())
    expected = {**dataclasses.asdict(wanted), "seed": int(seed)}
    got = {**saved.get("config", {}), "seed": saved.get("seed")}
    diff = {k: (got.get(k), v) for k, v in expected.items() if got.get(k) != v}
    if diff:
        detail = ", ".join(f"{k}: {a!r} on disk, {b!r} wanted" for k, (a, b) in sorted(diff.items()))
        raise ConfigError(f"the SynthME macro set {str(path.parent)!r} was written with other settings ({detail}); "
                          f"delete it so it is regenerated, or point macro_data.synth_root to another folder.")

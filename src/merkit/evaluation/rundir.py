"""Run directories: everything one evaluation run writes, laid out for resuming.

Layout of ``RUN_DIR``::

    config.yaml               resolved configuration (+ merkit version, select_on_test flag)
    environment.json          python, package versions, git commit, device
    predictions/seed<S>/<fold>.csv   per-fold predictions, one file per (seed, fold)
    metrics.json              pooled / per-fold / per-dataset / per-seed metrics
    report.md                 paper-style tables (Full and per dataset, UF1 and UAR)
    confusion_<scope>.png     confusion matrices

Every file is written atomically, so a run killed at any moment leaves no
corrupt file; a fold's prediction file exists only when the fold finished,
which is what resuming relies on.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

import pandas as pd
import yaml

from merkit._io import atomic_path, plain_data, write_json, write_text
from merkit._numerics import cpu_numerics_info
from merkit._version import __version__
from merkit.errors import ConfigError, ProtocolError

__all__ = ["RunDirectory", "environment_info", "fold_fingerprint"]

_PACKAGES = ("numpy", "pandas", "scikit-learn", "scipy", "torch", "torchvision", "timm",
             "opencv-contrib-python-headless", "dlib-bin")


def environment_info() -> dict:
    """Python, platform, package versions, git commit, compute device and CPU numerics of this process."""
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "merkit": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": versions,
        "git_commit": _git_commit(),
        "device": _device(),
        "cpu_count": os.cpu_count(),
        "cpu_numerics": cpu_numerics_info(),
    }


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _device() -> str:
    import torch  # deferred: pulls torch, which merkit.evaluation must not import; only a run asks

    if torch.cuda.is_available():
        return f"cuda:{torch.cuda.get_device_name(0)}"
    return "cpu"


class RunDirectory:
    """Reads and writes one run's files.

    Args:
        path: the run folder (created if missing).
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    # -- configuration -------------------------------------------------------------------------
    def write_config(self, config: dict, resume: bool = True) -> None:
        """Write ``config.yaml``; when resuming, refuse a config that differs from the stored one."""
        text = yaml.safe_dump(plain_data(config), sort_keys=True)
        target = self.path / "config.yaml"
        if target.exists() and resume:
            stored = yaml.safe_load(target.read_text())
            if stored != yaml.safe_load(text):
                changed = sorted(k for k in set(stored) | set(config) if stored.get(k) != plain_data(config).get(k))
                raise ConfigError(
                    f"run directory {str(self.path)!r} holds a run with a different configuration "
                    f"(keys {changed!r} differ); use a new run directory or delete this one."
                )
            return
        write_text(target, text)

    def read_config(self) -> dict:
        target = self.path / "config.yaml"
        if not target.exists():
            raise ConfigError(f"{str(target)!r} does not exist; is {str(self.path)!r} a merkit run directory?")
        return yaml.safe_load(target.read_text())

    def remove_stale_temporaries(self) -> int:
        """Delete temporary files that writers killed mid-write left in the run folder; returns how many.

        Only one process writes a run directory (the runner; workers return rows), so at the start of a
        run every ``.<name>.<random>.tmp<suffix>`` file in it is stale.
        """
        removed = 0
        if self.path.is_dir():
            for tmp in self.path.rglob(".*.tmp*"):
                if tmp.is_file():
                    tmp.unlink(missing_ok=True)
                    removed += 1
        return removed

    def write_environment(self) -> None:
        write_json(self.path / "environment.json", environment_info())

    # -- per-fold predictions ------------------------------------------------------------------
    def prediction_path(self, seed: int, fold_stem: str) -> Path:
        return self.path / "predictions" / f"seed{seed}" / f"{fold_stem}.csv"

    def has_fold(self, seed: int, fold_stem: str, sample_keys: Sequence[str]) -> bool:
        """True if the fold's predictions exist and cover exactly ``sample_keys``."""
        path = self.prediction_path(seed, fold_stem)
        if not path.exists():
            return False
        stored = pd.read_csv(path, usecols=["sample_key"])["sample_key"].tolist()
        if sorted(stored) != sorted(sample_keys):
            raise ProtocolError(
                f"{str(path)!r} holds predictions for other samples than fold {fold_stem!r} now tests; "
                f"the data changed since the run started. Use a new run directory."
            )
        return True

    def write_fold(self, seed: int, fold_stem: str, predictions: pd.DataFrame) -> Path:
        path = self.prediction_path(seed, fold_stem)
        with atomic_path(path) as tmp:
            predictions.to_csv(tmp, index=False, float_format="%.6g")
        return path

    def read_predictions(self) -> pd.DataFrame:
        """All saved per-fold predictions, sorted by seed, fold and sample key."""
        # a writer killed mid-write leaves its hidden temporary file (".<name>.<random>.tmp.csv"): never a fold
        files = sorted(f for f in (self.path / "predictions").glob("seed*/*.csv") if not f.name.startswith("."))
        if not files:
            raise ProtocolError(f"no predictions under {str(self.path / 'predictions')!r}; nothing to score.")
        frame = pd.concat([pd.read_csv(f, dtype={"fold": str}) for f in files], ignore_index=True)
        return frame.sort_values(["seed", "fold", "sample_key"], kind="stable").reset_index(drop=True)

    # -- results -------------------------------------------------------------------------------
    def write_metrics(self, metrics: dict) -> None:
        write_json(self.path / "metrics.json", metrics)

    def read_metrics(self) -> dict:
        return json.loads((self.path / "metrics.json").read_text())


def fold_fingerprint(sample_keys: Sequence[str]) -> str:
    """Short hash of a fold's test samples (recorded in metrics for traceability)."""
    return hashlib.sha256("\n".join(sorted(sample_keys)).encode()).hexdigest()[:12]


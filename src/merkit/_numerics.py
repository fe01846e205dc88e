"""Portable CPU numerics: the same seed gives the same model on every x86-64 machine.

Float sums in PyTorch's CPU kernels are ordered by the vector instructions
they use: oneDNN convolutions and MKL matrix products pick AVX-512 on a CPU
that has it and AVX2 on one that does not, and the rounding differs. A
14-fold LOSO on a few hundred clips amplifies that rounding into different
models: the demo's STSTNet scored 0.6415 Full UF1 with AVX-512 and 0.6960
with AVX2 on the same machine, same seed (BENCHMARKS.md, "Determinism").

So merkit caps both libraries at AVX2 (``ONEDNN_MAX_CPU_ISA=AVX2``,
``MKL_CBWR=AVX2``: oneDNN's ISA cap and MKL's conditional numerical
reproducibility) when it is imported, before the first torch operation
reads them. Both are ``setdefault``: a value the user exported wins, and
``MERKIT_CPU_NUMERICS=native`` leaves both alone (faster on AVX-512
machines: MiER-CvT trains about 18 % faster; results then depend on the CPU).
Processes merkit spawns inherit the settings. The thread count also orders
the sums; ``docs/training.md`` ("Determinism") says how merkit fixes it.
"""

from __future__ import annotations

import os

__all__ = ["PORTABLE_CPU_NUMERICS", "pin_portable_cpu_numerics", "cpu_numerics_info"]

#: Environment settings that make CPU float results independent of the machine's vector ISA.
PORTABLE_CPU_NUMERICS = {"ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"}


def pin_portable_cpu_numerics() -> dict[str, str]:
    """Set :data:`PORTABLE_CPU_NUMERICS` unless already set or ``MERKIT_CPU_NUMERICS=native``; returns what applies."""
    if os.environ.get("MERKIT_CPU_NUMERICS", "portable") == "native":
        return {}
    for key, value in PORTABLE_CPU_NUMERICS.items():
        os.environ.setdefault(key, value)
    return {key: os.environ[key] for key in PORTABLE_CPU_NUMERICS}


def cpu_numerics_info() -> dict[str, str | None]:
    """The numerics settings of this process, for a run's ``environment.json``."""
    return {key: os.environ.get(key) for key in (*PORTABLE_CPU_NUMERICS, "MERKIT_CPU_NUMERICS")}

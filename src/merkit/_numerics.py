"""Portable CPU numerics: the same seed gives the same model on every x86-64 machine.

Float sums in PyTorch's CPU kernels are ordered by the vector instructions
they use: oneDNN convolutions, MKL matrix products and ATen's own vectorised
kernels (softmax, layer norm, attention) pick AVX-512 on a CPU that has it
and AVX2 on one that does not, and the rounding differs. A
14-fold LOSO on a few hundred clips amplifies that rounding into different
models: the demo's STSTNet scored 0.6415 Full UF1 with AVX-512 and 0.6960
with AVX2 on the same machine, same seed (BENCHMARKS.md, "Determinism").

So merkit caps all three at AVX2 (``ONEDNN_MAX_CPU_ISA=AVX2``,
``MKL_CBWR=AVX2``: MKL's conditional numerical reproducibility,
``ATEN_CPU_CAPABILITY=avx2``) when it is imported, before the first torch
operation reads them. Each is a ``setdefault``: a value the user exported
wins, and ``MERKIT_CPU_NUMERICS=native`` leaves them alone (faster on
AVX-512 machines, BENCHMARKS.md "Determinism"; results then depend on the CPU).
Processes merkit spawns inherit the settings. The thread count also orders
the sums; ``docs/training.md`` ("Determinism") says how merkit fixes it.
"""

from __future__ import annotations

import os

__all__ = ["PORTABLE_CPU_NUMERICS", "pin_portable_cpu_numerics", "cpu_numerics_info"]

#: Environment settings that make CPU float results independent of the machine's vector ISA.
PORTABLE_CPU_NUMERICS = {"ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}


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

"""Portable CPU numerics (merkit._numerics): the same training on any x86-64 vector ISA, pinned at import."""

import os
import subprocess
import sys

import pytest

from merkit._numerics import PORTABLE_CPU_NUMERICS

_TRAIN = """
import numpy as np, merkit
from merkit.models import create_model
from merkit.training.settings import TrainConfig
from merkit.training.loop import predict_proba
from merkit.training.methods.supervised import fit_supervised
rng = np.random.default_rng(0)
x = rng.uniform(0, 1, (64, 3, 28, 28)).astype(np.float32)
y = rng.integers(0, 3, 64)
import torch; torch.manual_seed(0)
model = create_model("ststnet")  # convolutions (oneDNN) and a linear layer (MKL)
fit_supervised(model, x, y, TrainConfig(epochs=3, batch_size=16, progress=False), seed=0)
print(predict_proba(model, x).tobytes().hex())
big = rng.uniform(0, 1, (8, 3, 224, 224)).astype(np.float32)
model = create_model("mier_cvt")  # attention, softmax, layer norm (ATen's vectorised kernels)
fit_supervised(model, big, y[:8], TrainConfig(epochs=1, batch_size=8, progress=False), seed=0)
print(predict_proba(model, big).tobytes().hex())
"""


def _train_in_subprocess(env_extra: dict) -> str:
    env = {k: v for k, v in os.environ.items() if k not in (*PORTABLE_CPU_NUMERICS, "MERKIT_CPU_NUMERICS",
                                                            "MKL_ENABLE_INSTRUCTIONS")}
    env.update(env_extra)
    out = subprocess.run([sys.executable, "-c", _TRAIN], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip()


def test_training_does_not_depend_on_the_cpus_vector_isa():
    # A process on this machine against one emulating an AVX2-only CPU: without merkit's portable
    # numerics the first uses AVX-512 kernels and the models differ. On a CPU without AVX-512 both
    # processes run the same kernels anyway, so there is nothing to compare.
    cpu_flags = open("/proc/cpuinfo").read() if os.path.exists("/proc/cpuinfo") else ""
    if "avx512f" not in cpu_flags:
        pytest.skip("this CPU has no AVX-512: both processes would run the same kernels")
    native = _train_in_subprocess({})
    avx2_machine = _train_in_subprocess({"ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2",
                                         "ATEN_CPU_CAPABILITY": "avx2"})
    assert native == avx2_machine


def test_import_pins_portable_numerics_unless_asked_not_to():
    code = ("import os, merkit, torch; print(*(os.environ.get(k) for k in merkit._numerics.PORTABLE_CPU_NUMERICS), "
            "torch.backends.cpu.get_cpu_capability())")
    env = {k: v for k, v in os.environ.items() if k not in PORTABLE_CPU_NUMERICS}
    pinned = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert pinned.stdout.split() == ["AVX2", "AVX2", "avx2", "AVX2"]
    native = subprocess.run([sys.executable, "-c", code], env={**env, "MERKIT_CPU_NUMERICS": "native"},
                            capture_output=True, text=True, timeout=120)
    assert native.stdout.split()[:3] == ["None", "None", "None"]

"""Batch-1 CPU latency of every registered model: PyTorch eager vs onnxruntime (fp32, and int8 dynamic).

For each model at its default input: the median wall time of one forward pass
on ``--threads`` threads (after warm-up), for

* ``torch``: eager float32 under ``torch.inference_mode``;
* ``ort``: the model exported by :func:`merkit.training.export.export_network`
  (checked against PyTorch within 1e-4 in probability) run by onnxruntime with
  every graph optimisation;
* ``ort int8``: the same graph after onnxruntime's dynamic int8 quantisation
  (weights of MatMul/Gemm; optional, ``--int8``), with its accuracy cost:
  the largest probability change and the share of unchanged predicted classes
  on ``--samples`` random inputs.

Ratios: to the seeds' own per-sample times where they report one (seed 003:
MobileViT 35.4 ms; seed 002 Table 4: ShuffleNetV2 + CBAM 28.5 ms, + ViT 37.9 ms;
their laptops, not ours), and onnxruntime to PyTorch on this machine.
The CPU numerics mode (``MERKIT_CPU_NUMERICS``, merkit/_numerics.py) is printed:
run once as is and once with ``MERKIT_CPU_NUMERICS=native`` to see its cost.

    .venv/bin/python benchmarks/bench_latency.py --threads 2 --int8
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

import merkit  # noqa: F401  (sets the CPU numerics before torch runs anything)
from merkit.models import create_model, list_models
from merkit.training.export import OnnxNetwork, export_network
from merkit.training.loop import softmax

#: The seeds' reported per-sample times (ms), by our model name.
PAPER_MS = {"mobilevit_s_me": 35.4, "shufflenet_v2_me_cbam": 28.5, "shufflenet_v2_me_vit": 37.9}
#: MiER-CvT's paper gives no time; the seeds' 35-38 ms for their lightweight models is the bar.
PAPER_MS_NOTE = {"mier_cvt": 35.4, "mier_cvt_id": 35.4}


def _median_ms(fn, x, repeats: int, warmup: int = 5) -> float:
    for _ in range(warmup):
        fn(x)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(x)
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def _int8(path: Path, out: Path) -> Path:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # MatMul/Gemm (linear and attention projections): dynamic int8 quantisation's target; Conv needs
    # static quantisation with calibration data
    quantize_dynamic(str(path), str(out), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Gemm"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--int8", action="store_true", help="also measure dynamic int8 quantisation")
    parser.add_argument("--samples", type=int, default=64, help="random inputs for the int8 accuracy check")
    parser.add_argument("--models", nargs="*", default=None, help="model names (default: all registered)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    mode = os.environ.get("MERKIT_CPU_NUMERICS", "portable")
    print(f"CPU numerics: {mode} (ONEDNN_MAX_CPU_ISA={os.environ.get('ONEDNN_MAX_CPU_ISA')}, "
          f"ATen {torch.backends.cpu.get_cpu_capability()}); {args.threads} threads; batch 1; median of "
          f"{args.repeats}")
    head = "| model | input | torch ms | ort ms | ort / torch | paper ms | best / paper |"
    if args.int8:
        head += " ort int8 ms | int8 max dp | int8 same class |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    tmp = Path(tempfile.mkdtemp(prefix="merkit-latency-"))
    gen = torch.Generator().manual_seed(0)
    for name in args.models or list_models():
        torch.manual_seed(0)
        model = create_model(name).eval()
        size = tuple(int(v) for v in model.default_cfg["input_size"])
        x = torch.rand((1, *size), generator=gen)
        with torch.inference_mode():
            t_torch = _median_ms(model, x, args.repeats)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            export_network(model, size, tmp / f"{name}.onnx")
        ort = OnnxNetwork(tmp / f"{name}.onnx", threads=args.threads)
        xn = x.numpy()
        t_ort = _median_ms(ort, xn, args.repeats)
        paper = PAPER_MS.get(name) or PAPER_MS_NOTE.get(name)
        best = min(t_torch, t_ort)
        row = (f"| {name} | {'x'.join(map(str, size))} | {t_torch:.2f} | {t_ort:.2f} | {t_ort / t_torch:.2f} | "
               f"{paper if paper else '-'} | {f'{best / paper:.3f}' if paper else '-'} |")
        if args.int8:
            q = OnnxNetwork(_int8(tmp / f"{name}.onnx", tmp / f"{name}.int8.onnx"), threads=args.threads)
            t_q = _median_ms(q, xn, args.repeats)
            xs = torch.rand((args.samples, *size), generator=gen).numpy()
            p_ref = softmax(np.concatenate([ort(xs[i : i + 1]) for i in range(len(xs))]))
            p_q = softmax(np.concatenate([q(xs[i : i + 1]) for i in range(len(xs))]))
            row += f" {t_q:.2f} | {np.abs(p_q - p_ref).max():.4f} | {np.mean(p_q.argmax(1) == p_ref.argmax(1)):.3f} |"
        print(row, flush=True)


if __name__ == "__main__":
    main()

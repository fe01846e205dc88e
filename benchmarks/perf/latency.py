"""Batch-1 CPU inference latency of every registered model: PyTorch eager vs onnxruntime, beside the papers' times.

For each model at its default input (``model.default_cfg["input_size"]``), on each ``--threads``
count: parameters and GMACs (:func:`merkit.models.model_info`), and the median wall time of one
forward pass (after warm-up) for

* ``torch``: eager float32 under ``torch.inference_mode``;
* ``ort``: the model exported by :func:`merkit.deploy.onnx.export_network` (checked against
  PyTorch within 1e-4 in probability) run by onnxruntime with every graph optimisation
  (``--no-onnx`` skips it);
* ``ort int8``: the same graph after onnxruntime's dynamic int8 quantisation (weights of
  MatMul/Gemm; ``--int8``), with its accuracy cost: the largest probability change and the share of
  unchanged predicted classes on ``--samples`` random inputs.

References (:data:`PAPER_MS`, data): the per-sample CPU times the papers report, on their laptops,
not ours, so ``best / paper`` (the faster of torch and ort against the paper) is indicative only.
``--references`` adds torchvision's MobileNetV2 (and ``resnet50``) timed the same way (PyTorch only,
RGB 224): seed 002's Table 4 gives its times relative to MobileNetV2, so its models also get
``/ MobileNetV2`` beside the paper's own ratio. ``--with-face`` times the preparation of seed 003's
input (dlib detection + 68 landmarks + eye-line alignment + eye mask of one SynthME macro image,
``merkit.inputs.gray_apex.gray_masked_face`` without cache), which the model times exclude.
The CPU numerics mode (``MERKIT_CPU_NUMERICS``, merkit/_numerics.py) is printed: run once as is and
once with ``MERKIT_CPU_NUMERICS=native`` to see its cost.

    .venv/bin/python -m benchmarks.perf.latency --threads 2 --int8
    .venv/bin/python -m benchmarks.perf.latency --threads 1 --no-onnx --references \\
        --models shufflenet_v2_me shufflenet_v2_me_cbam shufflenet_v2_me_vit mobilevit_s_me mier_cvt --with-face
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

import merkit  # noqa: F401  (sets the CPU numerics before torch runs anything)
from merkit.deploy.onnx import OnnxNetwork, export_network
from merkit.models import create_model, list_models, model_info
from merkit.training.loop import softmax


@dataclass(frozen=True)
class Paper:
    """A per-sample CPU inference time a paper reports for a model (ms), and where."""

    ms: float
    source: str


#: The papers' reported per-sample CPU times, by our model name (or torchvision's, for reference rows).
PAPER_MS = {
    "mobilevit_s_me": Paper(35.4, "seed 003 (Liu et al. 2022), Intel Core i9-9980HK, Keras 2.2.4"),
    "shufflenet_v2_me_cbam": Paper(28.5, "seed 002 Table 4, Intel Core i9-9980HK, Keras"),
    "shufflenet_v2_me_vit": Paper(37.9, "seed 002 Table 4, Intel Core i9-9980HK, Keras"),
    "mobilenet_v2": Paper(24.0, "seed 002 Table 4 (its reference network)"),
    "resnet50": Paper(105.9, "seed 002 Table 4"),
}
#: Models whose paper gives no time, measured against the lightweight seeds' 35.4 ms instead.
BAR_MS = {"mier_cvt": 35.4, "mier_cvt_id": 35.4}
#: The network seed 002's Table 4 ratios are relative to.
RATIO_REFERENCE = "mobilenet_v2"


def median_ms(fn, x, repeats: int, warmup: int = 5) -> float:
    """Median milliseconds of ``fn(x)`` over ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn(x)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(x)
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def int8_graph(path: Path, out: Path) -> Path:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # MatMul/Gemm (linear and attention projections): dynamic int8 quantisation's target; Conv needs
    # static quantisation with calibration data
    quantize_dynamic(str(path), str(out), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Gemm"])
    return out


def reference_ms(name: str, threads: int, repeats: int) -> tuple[int, float]:
    """Parameters and PyTorch ms of a torchvision reference network (RGB 224, 3 classes)."""
    import torchvision.models as tv

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = getattr(tv, name)(weights=None, num_classes=3).eval()
    with torch.inference_mode():
        ms = median_ms(model, torch.rand(1, 3, 224, 224), repeats)
    return sum(p.numel() for p in model.parameters()), ms


def face_ms(repeats: int) -> float:
    """Median ms of preparing seed 003's input from one SynthME macro image (dlib models loaded first)."""
    from merkit.data.macro import load_macro
    from merkit.inputs.gray_apex import GrayApexConfig, gray_masked_face
    from merkit.synth.macro import MacroConfig, generate_macro

    with tempfile.TemporaryDirectory() as tmp:
        generate_macro(tmp, MacroConfig(n_subjects=1, takes_per_class=1, frames_per_take=1), seed=0)
        path = load_macro("image_folder", tmp, dataset="synthme_macro")["path"].iloc[0]
        cfg = GrayApexConfig(size=256)
        return median_ms(lambda p: gray_masked_face(p, cfg), path, repeats, warmup=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[2])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--models", nargs="*", default=None, help="model names (default: all registered)")
    parser.add_argument("--no-onnx", dest="onnx", action="store_false", help="PyTorch only")
    parser.add_argument("--int8", action="store_true", help="also measure dynamic int8 quantisation")
    parser.add_argument("--samples", type=int, default=64, help="random inputs for the int8 accuracy check")
    parser.add_argument("--references", action="store_true", help="time torchvision's MobileNetV2 the same way")
    parser.add_argument("--resnet50", action="store_true", help="with --references: also torchvision ResNet-50")
    parser.add_argument("--with-face", action="store_true", help="also time seed 003's face preparation")
    args = parser.parse_args()
    if args.int8 and not args.onnx:
        parser.error("--int8 quantises the onnxruntime graph; drop --no-onnx")
    mode = os.environ.get("MERKIT_CPU_NUMERICS", "portable")
    print(f"torch {torch.__version__}; CPU numerics: {mode} "
          f"(ONEDNN_MAX_CPU_ISA={os.environ.get('ONEDNN_MAX_CPU_ISA')}, "
          f"ATen {torch.backends.cpu.get_cpu_capability()}); load average {os.getloadavg()[0]:.1f}; batch 1; "
          f"median of {args.repeats}")
    head = "| model | input | params | GMACs | threads | torch ms |"
    if args.onnx:
        head += " ort ms | ort / torch |"
    head += " paper ms | best / paper |"
    if args.references:
        head += " / MobileNetV2 | paper / MobileNetV2 |"
    if args.int8:
        head += " ort int8 ms | int8 max dp | int8 same class |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    tmp = Path(tempfile.mkdtemp(prefix="merkit-latency-"))
    gen = torch.Generator().manual_seed(0)
    ref_names = [RATIO_REFERENCE, *(["resnet50"] if args.resnet50 else [])] if args.references else []
    for threads in args.threads:
        refs = {name: reference_ms(name, threads, args.repeats) for name in ref_names}
        torch.set_num_threads(threads)
        for name in args.models or list_models():
            info = model_info(name)
            torch.manual_seed(0)
            model = create_model(name).eval()
            size = tuple(int(v) for v in model.default_cfg["input_size"])
            x = torch.rand((1, *size), generator=gen)
            with torch.inference_mode():
                t_torch = median_ms(model, x, args.repeats)
            row = (f"| {name} | {'x'.join(map(str, size))} | {info.params:,} | {info.gmacs:.4f} | {threads} | "
                   f"{t_torch:.2f} |")
            best = t_torch
            if args.onnx:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    export_network(model, size, tmp / f"{name}.onnx")
                ort = OnnxNetwork(tmp / f"{name}.onnx", threads=threads)
                t_ort = median_ms(ort, x.numpy(), args.repeats)
                best = min(t_torch, t_ort)
                row += f" {t_ort:.2f} | {t_ort / t_torch:.2f} |"
            paper = PAPER_MS[name].ms if name in PAPER_MS else BAR_MS.get(name)
            row += f" {paper if paper else '-'} | {f'{best / paper:.3f}' if paper else '-'} |"
            if args.references:
                ref_paper = PAPER_MS[RATIO_REFERENCE].ms
                row += (f" {t_torch / refs[RATIO_REFERENCE][1]:.2f} | "
                        f"{f'{PAPER_MS[name].ms / ref_paper:.2f}' if name in PAPER_MS else '-'} |")
            if args.int8:
                q = OnnxNetwork(int8_graph(tmp / f"{name}.onnx", tmp / f"{name}.int8.onnx"), threads=threads)
                t_q = median_ms(q, x.numpy(), args.repeats)
                xs = torch.rand((args.samples, *size), generator=gen).numpy()
                p_ref = softmax(np.concatenate([ort(xs[i : i + 1]) for i in range(len(xs))]))
                p_q = softmax(np.concatenate([q(xs[i : i + 1]) for i in range(len(xs))]))
                row += (f" {t_q:.2f} | {np.abs(p_q - p_ref).max():.4f} | "
                        f"{np.mean(p_q.argmax(1) == p_ref.argmax(1)):.3f} |")
            print(row, flush=True)
        for name, (params, ms) in refs.items():  # PyTorch only; the other columns do not apply
            paper = PAPER_MS[name].ms
            cells = ["3x224x224", f"{params:,}", "-", str(threads), f"{ms:.2f}"]
            cells += ["-", "-"] if args.onnx else []
            cells += [f"{paper}", f"{ms / paper:.3f}", f"{ms / refs[RATIO_REFERENCE][1]:.2f}",
                      f"{paper / PAPER_MS[RATIO_REFERENCE].ms:.2f}"]
            cells += ["-", "-", "-"] if args.int8 else []
            print(f"| {name} (torchvision, reference) | " + " | ".join(cells) + " |", flush=True)
    if args.with_face:
        print(f"\nface preparation of seed 003's input (dlib, one 256 px face, {torch.get_num_threads()} torch "
              f"threads): {face_ms(10):.1f} ms; paper {PAPER_MS['mobilevit_s_me'].ms} ms per sample, which may or "
              "may not include it")
    print("\npaper times: " + "; ".join(f"{k} {v.ms} ms ({v.source})" for k, v in PAPER_MS.items()))


if __name__ == "__main__":
    main()

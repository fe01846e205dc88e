"""CPU inference time per sample of MobileViT-S (seed 003) beside the paper's 35.4 ms.

Times one forward pass of a single ``(1, 1, 256, 256)`` eye-masked grayscale
apex frame in eval mode under ``torch.inference_mode`` (median of ``--repeats``
runs after ``--warmup``), for each thread count in ``--threads``, and prints
the ratio against the paper's 35.4 ms per sample (Liu et al. 2022, Intel Core
i9-9980HK, Keras 2.2.4; the paper does not say whether its time includes
pre-processing). ``--with-face`` also times the pre-processing of one image
(dlib detection + 68 landmarks + eye-line alignment + eye mask,
``merkit.training.apex_gray.gray_masked_face`` without cache) on a SynthME
macro face, which the model time excludes. ResNet-18 on the same input is a
second reference row (the paper's Table 4 lists it as much slower).

    .venv/bin/python benchmarks/bench_mobilevit_me.py [--threads 1 2] [--repeats 50] [--with-face]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

from merkit.models import create_model

PAPER_MS = 35.4


def time_model(name: str, threads: int, repeats: int, warmup: int, size: int, **options) -> float:
    torch.set_num_threads(threads)
    model = create_model(name, **options).eval()
    x = torch.rand(1, model.default_cfg["input_size"][0], size, size)
    with torch.inference_mode():
        for _ in range(warmup):
            model(x)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000.0


def time_face(repeats: int) -> float:
    from merkit.data.macro import load_macro
    from merkit.synth.macro import MacroConfig, generate_macro
    from merkit.training.apex_gray import GrayApexConfig, gray_masked_face

    with tempfile.TemporaryDirectory() as tmp:
        generate_macro(tmp, MacroConfig(n_subjects=1, takes_per_class=1, frames_per_take=1), seed=0)
        path = load_macro("image_folder", tmp, dataset="synthme_macro")["path"].iloc[0]
        cfg = GrayApexConfig(size=256)
        gray_masked_face(path, cfg)  # loads dlib's models
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            gray_masked_face(path, cfg)
            times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--with-face", action="store_true")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, input (1, C, {args.size}, {args.size}), median of {args.repeats}; "
          f"paper: {PAPER_MS} ms per sample")
    print(f"{'model':18s} {'threads':>7s} {'ms/sample':>10s} {'x paper':>8s}")
    for threads in args.threads:
        for name, options in (("mobilevit_s_me", {}), ("resnet18_apex", {"in_chans": 1})):
            ms = time_model(name, threads, args.repeats, args.warmup, args.size, **options)
            print(f"{name:18s} {threads:7d} {ms:10.1f} {ms / PAPER_MS:8.2f}")
    if args.with_face:
        ms = time_face(max(5, args.repeats // 5))
        print(f"{'face prep (dlib)':18s} {torch.get_num_threads():7d} {ms:10.1f} {ms / PAPER_MS:8.2f}")


if __name__ == "__main__":
    main()

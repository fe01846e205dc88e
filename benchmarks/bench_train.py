"""Training throughput (samples per second) of each registered baseline, on CPU (and CUDA if present).

Trains each model for a few epochs on random inputs of its default feature
kind with the real trainer (AdamW, weighted loss, flow-aware augmentation)
and prints samples/s and the ratio against STSTNet on the same device (the
reference row).

    .venv/bin/python benchmarks/bench_train.py [--device cpu|cuda] [--epochs 3] [--n 512]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from merkit.models import create_model
from merkit.training.config import TrainConfig
from merkit.training.methods.supervised import fit_supervised

SIZES = {"ststnet": (3, 28, 28), "off_apexnet": (2, 28, 28), "resnet18_apex": (3, 112, 112)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--n", type=int, default=512)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    results = {}
    for name, shape in SIZES.items():
        n = args.n if name != "resnet18_apex" or args.device == "cuda" else max(64, args.n // 8)
        x = rng.random((n, *shape), dtype=np.float32)
        y = rng.integers(0, 3, n)
        cfg = TrainConfig(epochs=args.epochs, batch_size=64, device=args.device, progress=False, threads=args.threads)
        torch.manual_seed(0)
        history = fit_supervised(create_model(name), x, y, cfg, seed=0)
        results[name] = history.samples_per_second
    ref = results["ststnet"]
    device = torch.cuda.get_device_name(0) if args.device == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    print(f"device: {device}; epochs {args.epochs}; batch 64; augmentation on")
    print(f"{'model':<16} {'input':<12} {'samples/s':>12} {'ratio vs ststnet':>18}")
    for name, sps in results.items():
        print(f"{name:<16} {'x'.join(map(str, SIZES[name])):<12} {sps:>12.0f} {sps / ref:>18.3f}")


if __name__ == "__main__":
    main()

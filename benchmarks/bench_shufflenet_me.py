"""CPU inference time per sample of the seed-002 models beside the paper's Table 4.

Paper 002 (Table 4, Keras on an Intel Core i9-9980HK) reports the time to
recognise one sample: MobileNetV2 24 ms, ShuffleNetV2 + CBAM 28.5 ms,
ShuffleNetV2 + ViT 37.9 ms, ResNet50 105.9 ms. Absolute times depend on the
machine, so each model is also given as a ratio to torchvision's MobileNetV2
measured here in the same way (the paper's own ratios: CBAM 1.19, ViT 1.58).

Measured: one 224x224 sample (batch 1; gray for ours, RGB for the references),
eval mode, ``torch.no_grad``, ``--threads`` CPU threads, median of ``--repeats``
forward passes after ``--warmup``. Preprocessing (alignment, flow) is not counted.

    .venv/bin/python benchmarks/bench_shufflenet_me.py --threads 1 --repeats 30
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

PAPER_MS = {"mobilenet_v2": 24.0, "shufflenet_v2_me_cbam": 28.5, "shufflenet_v2_me_vit": 37.9, "resnet50": 105.9}


def time_model(model: torch.nn.Module, x: torch.Tensor, warmup: int, repeats: int) -> float:
    """Median milliseconds of one forward pass."""
    model.eval()
    times = []
    with torch.no_grad():
        for _ in range(warmup):
            model(x)
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(x)
            times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--resnet50", action="store_true", help="also time torchvision ResNet-50")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    from torchvision.models import mobilenet_v2, resnet50

    from merkit.models import create_model

    gray, rgb = torch.rand(1, 1, 224, 224), torch.rand(1, 3, 224, 224)
    rows = [("mobilenet_v2", mobilenet_v2(weights=None, num_classes=3), rgb)]
    for name in ("shufflenet_v2_me", "shufflenet_v2_me_cbam", "shufflenet_v2_me_vit"):
        rows.append((name, create_model(name), gray))
    if args.resnet50:
        rows.append(("resnet50", resnet50(weights=None, num_classes=3), rgb))
    ref = None
    print(f"torch {torch.__version__}, {args.threads} thread(s), median of {args.repeats} after {args.warmup} warm-up")
    print("| model | params | ms / sample | ratio to MobileNetV2 | paper ms | paper ratio |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, model, x in rows:
        ms = time_model(model, x, args.warmup, args.repeats)
        ref = ms if ref is None else ref
        params = sum(p.numel() for p in model.parameters())
        paper = PAPER_MS.get(name)
        paper_ratio = f"{paper / PAPER_MS['mobilenet_v2']:.2f}" if paper else "–"
        print(f"| {name} | {params:,} | {ms:.1f} | {ms / ref:.2f} | {paper if paper else '–'} | {paper_ratio} |")


if __name__ == "__main__":
    main()

"""MOL training-step cost on this machine: forward + backward + AdamW step per clip.

Prints seconds per training clip for the recognition path alone and for the joint model
(flow + landmark heads) at the paper size (8 x 128 x 128) and at the reduced size used on
CPUs (8 x 64 x 64), each as a ratio to the recognition path at the paper size.

    python benchmarks/bench_mol.py [--repeats 3] [--batch 2] [--threads 2]
"""

from __future__ import annotations

import argparse
import time

import torch

from merkit.models import create_model
from merkit.training.methods.clip_training import mol_loss


def step_seconds(img: int, heads: bool, batch: int, repeats: int) -> float:
    torch.manual_seed(0)
    model = create_model("mol", img_size=img, flow_head=heads, landmark_head=heads).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=1e-3)
    x = torch.rand(batch, 8, img, img) - 0.5
    y = torch.zeros(batch, dtype=torch.int64)
    flows = torch.zeros(batch, 7, 2, img, img)
    marks = torch.rand(batch, 8, 68, 2) * img
    times = []
    for _ in range(repeats + 1):  # the first step warms up the allocator
        t0 = time.perf_counter()
        loss, _ = mol_loss(model.forward_joint(x), y, flows, marks, 10.0 if heads else 0.0, 0.1 if heads else 0.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    return min(times[1:]) / batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ref = step_seconds(128, False, args.batch, args.repeats)
    print(f"torch {torch.__version__}, {args.threads} threads, batch {args.batch}, best of {args.repeats}")
    print(f"{'setting':<42} {'s/clip':>8} {'ratio':>7}")
    print(f"{'recognition path, 8x128x128 (reference)':<42} {ref:8.3f} {1.0:7.2f}")
    for label, img, heads in [("joint (flow + landmarks), 8x128x128", 128, True),
                              ("recognition path, 8x64x64", 64, False),
                              ("joint (flow + landmarks), 8x64x64", 64, True)]:
        s = step_seconds(img, heads, args.batch, args.repeats)
        print(f"{label:<42} {s:8.3f} {s / ref:7.2f}")


if __name__ == "__main__":
    main()

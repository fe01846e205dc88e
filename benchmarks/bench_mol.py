"""MOL joint training-step cost on this machine: forward + backward + AdamW, one batch, side by side.

Every row trains the same joint MOL (recognition + flow + landmark heads, ``mol_loss`` with the
config's weights) on the same batch of random clips. The reference is the flow head as it was
before issue 19 (correlation built from one padded, shifted copy of the second frame's features
per vertical displacement, all 441 channels into ``conv3_1``, oneDNN on the padded taps of the
1x1/2x2 maps), rebuilt in this script; the other rows are today's head, exact (same values and
gradients, tested; AdamW with torch's foreach kernels as the training loop now builds it,
bit-identical to the per-tensor loop of the reference) or with ``flow_pairs`` (k random pairs of each clip supervised per step, an
unbiased estimate of the flow loss). Prints seconds per step and the ratio to the reference.

    python benchmarks/bench_mol.py [--img 64] [--batch 8] [--threads 1] [--repeats 3]
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F

import merkit.models.mol_heads as heads
from merkit.models import create_model
from merkit.training.methods.clip_training import mol_loss, random_pairs


def correlation_by_shifted_copies(a: torch.Tensor, b: torch.Tensor, patch_size: int, dilation: int) -> torch.Tensor:
    """The correlation as merkit computed it before issue 19: every displacement, shifted views of padded ``b``."""
    n, c, h, w = a.shape
    reach = (patch_size // 2) * dilation
    padded = F.pad(b, (reach, reach, reach, reach))
    rows = []
    for i in range(patch_size):
        band = padded[:, :, i * dilation : i * dilation + h, :]
        rows.append(torch.einsum("nchw,nchpw->nphw", a, band.unfold(3, w, dilation)))
    return torch.cat(rows, dim=1)


def dense_conv3_1(head: heads.FlowNetCHead, c3a: torch.Tensor, c3b: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
    corr = correlation_by_shifted_copies(c3a, c3b, head.patch_size, head.dilation)
    corr = F.leaky_relu(corr / c3a.shape[1], 0.1)
    return head.conv3_1(torch.cat([head.conv_redir(c3a), corr, feats], dim=1))


@contextlib.contextmanager
def previous_flow_head() -> Iterator[None]:
    """Swap today's fast paths for the pre-issue-19 computation while the block runs."""
    saved = heads.FlowNetCHead._conv3_1, heads.conv_on_a_pixel
    heads.FlowNetCHead._conv3_1 = dense_conv3_1
    heads.conv_on_a_pixel = lambda conv, x: conv(x)
    try:
        yield
    finally:
        heads.FlowNetCHead._conv3_1, heads.conv_on_a_pixel = saved


def step_seconds(img: int, batch: int, repeats: int, flow_pairs: int, foreach: bool = True) -> float:
    torch.manual_seed(0)
    model = create_model("mol", img_size=img, flow_head=True, landmark_head=True).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=1e-3, foreach=foreach)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 8, img, img, generator=gen) - 0.5
    y = torch.zeros(batch, dtype=torch.int64)
    flows = torch.zeros(batch, 7, 2, img, img)
    marks = torch.rand(batch, 8, 68, 2, generator=gen) * img
    marks[..., 42:48, 0] += img / 4  # a real inter-ocular distance
    rng = np.random.default_rng(0)
    times = []
    for _ in range(repeats + 1):  # the first step warms up the allocator
        pairs = torch.from_numpy(random_pairs(rng, batch, 7, flow_pairs)) if flow_pairs else None
        t0 = time.perf_counter()
        loss, _ = mol_loss(model.forward_joint(x, flow_pairs=pairs), y, flows, marks, 10.0, 0.1)
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    return min(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--img", type=int, default=64, help="clip side (64: configs/mol/mol_synthme_small.toml)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1, help="1: what one LOSO worker uses")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), joint MOL 8x{args.img}x{args.img}, batch "
          f"{args.batch}, best of {args.repeats} steps")
    with previous_flow_head():
        ref = step_seconds(args.img, args.batch, args.repeats, 0, foreach=False)
    print(f"{'flow head':<58} {'s/step':>8} {'x faster':>9}")
    print(f"{'before issue 19: shifted-copy correlation, all pairs (ref)':<58} {ref:8.3f} {1.0:9.2f}")
    for label, pairs in [("today, exact: window correlation, all 7 pairs", 0),
                         ("today + flow_pairs = 2", 2), ("today + flow_pairs = 1 (CPU configs)", 1)]:
        s = step_seconds(args.img, args.batch, args.repeats, pairs)
        print(f"{label:<58} {s:8.3f} {ref / s:9.2f}")
    rec = create_model("mol", img_size=args.img).train()
    opt = torch.optim.AdamW(rec.parameters(), lr=1e-4, foreach=True)
    x, y = torch.rand(args.batch, 8, args.img, args.img) - 0.5, torch.zeros(args.batch, dtype=torch.int64)
    times = []
    for _ in range(args.repeats + 1):
        t0 = time.perf_counter()
        F.cross_entropy(rec(x), y).backward()
        opt.step()
        opt.zero_grad()
        times.append(time.perf_counter() - t0)
    s = min(times[1:])
    print(f"{'(recognition path alone, no auxiliary heads)':<58} {s:8.3f} {ref / s:9.2f}")


if __name__ == "__main__":
    main()

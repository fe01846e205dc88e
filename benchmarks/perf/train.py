"""Training cost on this machine: the trainer's throughput per model, and MOL's joint step against its former flow head.

``throughput`` trains each model of ``--models`` for ``--epochs`` on random inputs of its feature
kind with the real trainer (AdamW, weighted loss, flow-aware augmentation; ``mier_cvt_id`` with its
identity head, the subjects drawn from 13 keys) and prints samples per second of wall time and per
CPU-second of this process (what one free core would do on a shared machine), with the ratio to
STSTNet on the same device (the reference row). ``resnet18_apex`` on CPU trains on ``--n // 8``
samples (at least 64).

``mol-step`` times one joint MOL training step (forward, ``mol_loss`` with ``lambda_of = 10`` and
``lambda_ldm = 0.1``, backward, AdamW) on one batch of random clips. The reference is MOL's former
flow head (correlation built from one padded, shifted copy of the second frame's features per vertical
displacement, all 441 channels into ``conv3_1``, oneDNN on the padded taps of the 1x1/2x2 maps, a
per-tensor AdamW), rebuilt here; the other rows are today's head, exact (same values and gradients,
tested; AdamW with torch's foreach kernels, bit-identical) or with ``flow_pairs`` (k random pairs
of each clip supervised per step, an unbiased estimate of the flow loss), and the recognition path
alone. Prints seconds per step (best of ``--repeats``) and the ratio to the reference.

    .venv/bin/python -m benchmarks.perf.train throughput [--device cpu|cuda] [--threads 1] [--epochs 3] [--n 512]
    .venv/bin/python -m benchmarks.perf.train throughput --models ststnet mier_cvt mier_cvt_id --batch 16 --n 96 \\
        --epochs 2 --threads 1
    .venv/bin/python -m benchmarks.perf.train mol-step [--img 64] [--batch 8] [--threads 1] [--repeats 3]
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
from merkit.training.methods.supervised import fit_supervised
from merkit.training.settings import TrainConfig

#: Input of each model the throughput rows train (its feature kind at the size its configs use).
SIZES = {"ststnet": (3, 28, 28), "off_apexnet": (2, 28, 28), "resnet18_apex": (3, 112, 112),
         "mier_cvt": (3, 224, 224), "mier_cvt_id": (3, 224, 224)}
REFERENCE = "ststnet"


def throughput(models: list[str], device: str, epochs: int, n: int, batch: int, threads: int) -> None:
    rng = np.random.default_rng(0)
    rows = {}
    for name in dict.fromkeys([REFERENCE, *models]):
        size = n if name != "resnet18_apex" or device == "cuda" else max(64, n // 8)
        x = rng.random((size, *SIZES[name]), dtype=np.float32)
        y = rng.integers(0, 3, size)
        subjects = np.array([f"casme2/sub{i % 13:02d}" for i in range(size)], dtype=object)
        cfg = TrainConfig(epochs=epochs, batch_size=batch, device=device, progress=False, threads=threads)
        torch.manual_seed(0)
        c0 = time.process_time()
        history = fit_supervised(create_model(name), x, y, cfg, seed=0, subjects=subjects)
        rows[name] = (history.samples_per_second, size * epochs / (time.process_time() - c0))
    where = torch.cuda.get_device_name(0) if device == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    print(f"device: {where}; epochs {epochs}; batch {batch}; augmentation on; reference row {REFERENCE}")
    print("| model | input | batch | samples/s | ratio vs STSTNet | samples per CPU-s | CPU ratio vs STSTNet |")
    print("|---|---|---:|---:|---:|---:|---:|")
    ref_wall, ref_cpu = rows[REFERENCE]
    for name, (wall, cpu) in rows.items():
        print(f"| {name} | {'x'.join(map(str, SIZES[name]))} | {batch} | {wall:.1f} | {wall / ref_wall:.3f} | "
              f"{cpu:.1f} | {cpu / ref_cpu:.3f} |")


def correlation_by_shifted_copies(a: torch.Tensor, b: torch.Tensor, patch_size: int, dilation: int) -> torch.Tensor:
    """The former correlation: every displacement as a shifted view of padded ``b``."""
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
def former_flow_head() -> Iterator[None]:
    """Swap today's fast paths for the former computation while the block runs."""
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


def mol_step(img: int, batch: int, repeats: int) -> None:
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), joint MOL 8x{img}x{img}, batch {batch}, "
          f"best of {repeats} steps")
    with former_flow_head():
        ref = step_seconds(img, batch, repeats, 0, foreach=False)
    print("| flow head | s / step | x faster |\n|---|---:|---:|")
    print(f"| former: shifted-copy correlation, all 441 channels, all 7 pairs (reference) | {ref:.3f} | 1.00 |")
    for label, pairs in [("today, exact: window correlation, all 7 pairs", 0),
                         ("today + flow_pairs = 2", 2), ("today + flow_pairs = 1 (CPU configs)", 1)]:
        s = step_seconds(img, batch, repeats, pairs)
        print(f"| {label} | {s:.3f} | {ref / s:.2f} |")
    rec = create_model("mol", img_size=img).train()
    opt = torch.optim.AdamW(rec.parameters(), lr=1e-4, foreach=True)
    x, y = torch.rand(batch, 8, img, img) - 0.5, torch.zeros(batch, dtype=torch.int64)
    times = []
    for _ in range(repeats + 1):
        t0 = time.perf_counter()
        F.cross_entropy(rec(x), y).backward()
        opt.step()
        opt.zero_grad()
        times.append(time.perf_counter() - t0)
    s = min(times[1:])
    print(f"| recognition path alone (no auxiliary heads) | {s:.3f} | {ref / s:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    tp = sub.add_parser("throughput", help="samples/s of the trainer per model, vs STSTNet")
    tp.add_argument("--models", nargs="*", default=["ststnet", "off_apexnet", "resnet18_apex"], choices=list(SIZES))
    tp.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    tp.add_argument("--epochs", type=int, default=3)
    tp.add_argument("--n", type=int, default=512)
    tp.add_argument("--batch", type=int, default=64)
    tp.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default; 1: one LOSO worker)")
    ms = sub.add_parser("mol-step", help="one joint MOL step vs the former flow head")
    ms.add_argument("--img", type=int, default=64, help="clip side (64: configs/mol/synthme_small.toml)")
    ms.add_argument("--batch", type=int, default=8)
    ms.add_argument("--threads", type=int, default=1, help="1: what one LOSO worker uses")
    ms.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.what == "throughput":
        throughput(args.models, args.device, args.epochs, args.n, args.batch, args.threads)
    else:
        torch.set_num_threads(args.threads)
        mol_step(args.img, args.batch, args.repeats)


if __name__ == "__main__":
    main()

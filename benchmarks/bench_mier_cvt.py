"""MiER-CvT on CPU: per-sample inference latency and training throughput, beside references.

``latency``: median wall time of one forward pass at batch 1 (eval mode,
``torch.no_grad``, ``--threads`` torch threads) for MiER-CvT and the flow
baselines at their specified inputs, printed beside the seeds' own CPU
figures (35.4 ms MobileViT, seed 003; 37.9 ms ShuffleNetV2 + ViT, seed 002;
their hardware is not ours, so the ratio is indicative only).

``train``: samples/s of the real trainer (AdamW, weighted loss, flow-aware
augmentation, one torch thread as each process-pool worker uses) for
``mier_cvt`` and ``mier_cvt_id`` (the identity head and its reversed
gradient), with the ratio against STSTNet on the same machine.

    .venv/bin/python benchmarks/bench_mier_cvt.py latency [--threads 2] [--repeats 50]
    .venv/bin/python benchmarks/bench_mier_cvt.py train [--n 96] [--epochs 2]
    .venv/bin/python benchmarks/bench_mier_cvt.py compare "NAME=RUN_DIR[,RUN_DIR...]" ...

``compare`` pools the seeds of finished run directories (one method may be
split over several directories, one per seed) into the paper's table layout
(:func:`merkit.evaluation.report.format_table`: Full and per-source UF1/UAR,
mean +- sample std over seeds), then the seeds' Full UF1 and UAR.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from merkit.models import create_model, model_info
from merkit.training.config import TrainConfig
from merkit.training.methods.supervised import fit_supervised

MODELS = ("mier_cvt", "ststnet", "off_apexnet")
#: the seeds' reported CPU inference time per sample (ms); hardware not stated alike
REFERENCES = {"MobileViT (seed 003)": 35.4, "ShuffleNetV2 + ViT (seed 002)": 37.9}


def latency(threads: int, repeats: int) -> None:
    import os

    torch.set_num_threads(threads)
    print(f"torch threads {threads}; load average before: {os.getloadavg()[0]:.1f}")
    ref = REFERENCES["MobileViT (seed 003)"]
    print(f"| model | input | params | GMACs | wall ms / sample (median of {repeats}) | CPU ms / sample | "
          "wall ratio vs 35.4 ms |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name in MODELS:
        info = model_info(name)
        model = create_model(name).eval()
        x = torch.rand(1, *info.input_size)
        times, cpu = [], []
        with torch.no_grad():
            for _ in range(5):
                model(x)
            for _ in range(repeats):
                t0, c0 = time.perf_counter(), time.process_time()
                model(x)
                times.append((time.perf_counter() - t0) * 1000)
                cpu.append((time.process_time() - c0) * 1000)
        ms, cpu_ms = statistics.median(times), statistics.median(cpu)
        size = "x".join(map(str, info.input_size))
        print(f"| {name} | {size} | {info.params:,} | {info.gmacs:.4f} | {ms:.2f} | {cpu_ms:.2f} | {ms / ref:.2f} |")
    for name, ms in REFERENCES.items():
        print(f"| {name}, as reported | - | - | - | {ms:.1f} | - | {ms / ref:.2f} |")


def train(n: int, epochs: int) -> None:
    rng = np.random.default_rng(0)
    subjects = np.array([f"casme2/sub{i % 13:02d}" for i in range(n)], dtype=object)
    rows = {}
    for name, shape, batch in (("ststnet", (3, 28, 28), 16), ("mier_cvt", (3, 224, 224), 16),
                               ("mier_cvt_id", (3, 224, 224), 16)):
        x = rng.random((n, *shape), dtype=np.float32)
        y = rng.integers(0, 3, n)
        cfg = TrainConfig(epochs=epochs, batch_size=batch, device="cpu", progress=False, threads=1)
        torch.manual_seed(0)
        c0 = time.process_time()
        history = fit_supervised(create_model(name), x, y, cfg, seed=0, subjects=subjects)
        # per CPU-second of the one thread: what a free core would do on a shared machine
        rows[name] = (history.samples_per_second, n * epochs / (time.process_time() - c0))
    print("| model | input | batch | samples/s wall (1 thread) | samples per CPU-second | CPU ratio vs STSTNet |")
    print("|---|---|---:|---:|---:|---:|")
    for name, (sps, cps) in rows.items():
        shape = "3x28x28" if name == "ststnet" else "3x224x224"
        print(f"| {name} | {shape} | 16 | {sps:.1f} | {cps:.1f} | {cps / rows['ststnet'][1]:.4f} |")


def compare(specs: list[str]) -> None:
    import json
    from pathlib import Path

    from merkit.evaluation.report import format_table

    rows, datasets, per_seed_lines = {}, [], []
    for spec in specs:
        name, dirs = spec.split("=", 1)
        reports = {}
        for d in dirs.split(","):
            metrics = json.loads((Path(d) / "metrics.json").read_text())
            if metrics.get("select_on_test"):
                name += " (SELECT-ON-TEST)"
            datasets += [x for x in metrics["datasets"] if x not in datasets]
            twice = set(reports) & set(metrics["per_seed"])
            if twice:
                raise SystemExit(f"{name}: seed(s) {sorted(twice)} appear in two run directories ({d}).")
            reports.update(metrics["per_seed"])
        summary = {}
        for scope in ["full"] + datasets:
            summary[scope] = {}
            for score in ("uf1", "uar"):
                values = [r["pooled"][score] if scope == "full" else r["per_dataset"][scope][score]
                          for r in reports.values() if scope == "full" or scope in r["per_dataset"]]
                values = np.array([np.nan if v is None else v for v in values], dtype=float)
                values = values[~np.isnan(values)]
                summary[scope][score] = {"mean": float(values.mean()) if values.size else None,
                                         "std": float(values.std(ddof=1)) if values.size > 1 else 0.0,
                                         "n_seeds": int(values.size)}
        rows[name] = summary
        cells = ", ".join(f"seed {k}: {r['pooled']['uf1']:.4f} / {r['pooled']['uar']:.4f}" for k, r in sorted(reports.items()))
        per_seed_lines.append(f"- {name}: {cells}")
    print(format_table(rows, datasets))
    print()
    print("Full UF1 / UAR per seed:")
    print("\n".join(per_seed_lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    lat = sub.add_parser("latency")
    lat.add_argument("--threads", type=int, default=2)
    lat.add_argument("--repeats", type=int, default=50)
    tr = sub.add_parser("train")
    tr.add_argument("--n", type=int, default=96)
    tr.add_argument("--epochs", type=int, default=2)
    cmp = sub.add_parser("compare")
    cmp.add_argument("runs", nargs="+", help="NAME=RUN_DIR[,RUN_DIR...]")
    args = parser.parse_args()
    if args.what == "latency":
        latency(args.threads, args.repeats)
    elif args.what == "compare":
        compare(args.runs)
    else:
        train(args.n, args.epochs)


if __name__ == "__main__":
    main()

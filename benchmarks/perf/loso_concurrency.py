"""Composite LOSO wall time: one fold at a time in this process vs all folds through the 2-worker process pool.

Runs the demo's configuration of a method (``merkit.experiments.demo.demo_configs``: MEGC2019-style
composite LOSO on SynthME ``small``, honest, seed 0) with ``run.executor = "inprocess"`` and then
``"process"`` (``--workers``), each fold on one torch thread, and prints wall time, the speed-up and
both Full UF1 values (they must be equal: folds are seeded from (seed, fold name)).

    .venv/bin/python -m benchmarks.perf.loso_concurrency --method MiER-CvT --synth /tmp/synth --cache /tmp/cache
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from merkit.experiments.config import config_from_dict
from merkit.experiments.demo import demo_configs
from merkit.experiments.run import run_experiment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="MiER-CvT", choices=["STSTNet", "MiER-CvT", "Bi-WOOF + SVM"])
    parser.add_argument("--synth", type=Path, required=True, help="SynthME small folder (generated if missing)")
    parser.add_argument("--cache", type=Path, required=True, help="feature cache (warm it first: prepare once)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for executor, workers in (("inprocess", 1), ("process", args.workers)):
            raw = demo_configs(Path(tmp), "small", (0,), workers, False)[args.method]
            raw["data"]["synth_root"] = str(args.synth)
            raw["features"]["cache_dir"] = str(args.cache)
            raw["run"].update(bootstrap=0, executor=executor, workers=workers, out_dir=str(Path(tmp) / executor))
            t0 = time.perf_counter()
            result = run_experiment(config_from_dict(raw))
            rows.append((executor, workers, time.perf_counter() - t0, result.metrics["summary"]["full"]["uf1"]["mean"]))
    base = rows[0][2]
    print(f"| {args.method} executor | workers | wall s | speed-up | Full UF1 |")
    print("|---|---:|---:|---:|---:|")
    for executor, workers, seconds, uf1 in rows:
        print(f"| {executor} | {workers} | {seconds:.1f} | {base / seconds:.2f} | {uf1:.4f} |")


if __name__ == "__main__":
    main()

"""Run an amplitude-ladder entry on the accelerator machine from inputs prepared here.

The accelerator machine (the ``device`` tool) has PyTorch and a GPU but neither dlib's landmark
model nor OpenCV's contrib flows, and the SynthME trees are larger than what travels there. So the
work is split at the method's inputs, the only place the face and motion layers are needed:

1. ``pack`` (here, CPU): builds the entry's run config exactly as :mod:`.run` (or, with
   ``--synth-seed N``, as :mod:`.dev` on a development tree), loads the sample
   table, lets the method prepare its inputs (aligned faces, flow, ...; the feature cache is reused)
   and writes config, table and inputs to one compressed file (several ``--entry`` names may share
   it; entries that read the same inputs share one copy).
2. ``run`` (there): ``merkit.run_experiment`` on that table with those inputs (nothing is recomputed),
   ``train.device`` set to ``cuda``; the same composite LOSO and the entry's own schedule (fixed, or
   selection on validation subjects drawn from the training subjects), nothing chosen on a test
   subject. Writes one CSV row per seed and the run directory as a ``.tar.gz``. ``--only`` picks
   entries; ``--resume`` continues run directories an earlier call left unfinished; ``--set`` changes
   the config for a smoke test (the changes are written into the rows).
3. ``merge`` (here): unpacks the run directory beside the CPU runs of the same rung and appends the rows
   to ``OUT/ladder_device.csv`` (ladder tree; :mod:`.report` reads it and keeps its cost apart from
   the 2-core cost) or ``OUT/dev.csv`` (development tree).

    python -m benchmarks.studies.ladder.device pack --out /tmp/ladder --entry NAME --rung 8 --bundle .gpu/a.joblib
    # on the device machine, from the repository root (PYTHONPATH=src python3 -m ...):
    python -m benchmarks.studies.ladder.device run --bundle .gpu/a.joblib --results $OUT --device cuda --workers 8
    python -m benchmarks.studies.ladder.device merge --out /tmp/ladder --results /work/.device/.../files
"""

from __future__ import annotations

import argparse
import tarfile
import time
from pathlib import Path

import pandas as pd

from . import report
from . import run as ladder
from .dev import dev_config
from .train_fit import settings_config


def same_inputs(a: object, b: object) -> bool:
    """Whether two prepared inputs hold the same values (arrays, and the dataclasses, dicts and lists around them)."""
    import numpy as np

    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return a.shape == b.shape and np.array_equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_inputs(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same_inputs(x, y) for x, y in zip(a, b))
    if isinstance(a, (pd.DataFrame, pd.Series)):
        return a.equals(b)
    if hasattr(a, "__dict__"):  # dataclasses: their own == compares array fields ambiguously
        return same_inputs(vars(a), vars(b))
    try:
        return bool(a == b)
    except (TypeError, ValueError):  # not comparable: keep both copies (costs space, never a wrong input)
        return False


def pack(args: argparse.Namespace) -> None:
    import joblib

    from merkit.evaluation.protocols import create_protocol
    from merkit.experiments.config import config_from_dict
    from merkit.experiments.run import build_method
    from merkit.experiments.sources import load_table

    if args.settings and not args.synth_seed:
        raise SystemExit("--set on the ladder's tree would be recorded under the entry's own name; try changes on a "
                         "development tree (--synth-seed 1) or add them as an entry of "
                         "benchmarks/studies/ladder/run.py")
    raws = [dev_config(args.out, args.rung, entry, args.seeds, args.workers, args.settings, args.synth_seed)
            if args.synth_seed else ladder.build(args.out, args.rung, entry, args.seeds, args.workers, args.preset)
            for entry in args.entry]
    if any(raw["data"] != raws[0]["data"] for raw in raws):
        raise SystemExit("the entries of one bundle must read the same SynthME tree (the file holds one table); "
                         "pack the others into another file")
    cfg = config_from_dict(raws[0], source="device pack")
    table, _ = load_table(cfg.data, cfg.features.workers)
    protocol = create_protocol(cfg.protocol.name, label_set=cfg.protocol.label_set, **cfg.protocol.options)
    prepared_table = protocol.prepare(table)
    runs, inputs = [], []
    for entry, raw in zip(args.entry, raws):
        prepared = build_method(config_from_dict(raw, source=f"device pack {entry}"), prepared_table).inputs
        # entries that read the same inputs (another head or schedule) share one copy in the file
        same = [i for i, x in enumerate(inputs) if same_inputs(x, prepared)]
        if not same:
            inputs.append(prepared)
        runs.append({"entry": entry, "raw": raw, "inputs": same[0] if same else len(inputs) - 1})
    args.bundle.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.bundle.with_suffix(".tmp")
    joblib.dump({"rung": args.rung, "synth_seed": args.synth_seed, "changes": " ".join(args.settings)
                 or "(ladder schedule)", "table": table, "inputs": inputs, "runs": runs}, tmp, compress=3)
    tmp.replace(args.bundle)
    print(f"{args.bundle}: {args.bundle.stat().st_size / 2**20:.1f} MiB ({len(runs)} entries, {len(inputs)} input "
          f"sets, {len(table)} samples)")


def run(args: argparse.Namespace) -> None:
    import joblib
    import torch

    from merkit.experiments.config import config_from_dict
    from merkit.experiments.run import run_experiment

    bundle = joblib.load(args.bundle)
    device = (torch.cuda.get_device_name() if args.device == "cuda" else "cpu") + f", {args.workers} workers"
    args.results.mkdir(parents=True, exist_ok=True)
    for spec in bundle["runs"]:
        if args.only and not any(part in spec["entry"] for part in args.only):
            continue
        run_dir = Path(spec["raw"]["run"]["out_dir"])
        local = args.results / "runs" / run_dir.name
        if args.resume and (args.resume / run_dir.name).is_dir() and not local.exists():
            resume_into(args.resume / run_dir.name, local)
        raw = ladder.merged(ladder.merged(spec["raw"], settings_config(args.settings)),  # run --set: a smoke test's
                            {"train": {"device": args.device, "threads": args.threads},
                             "run": {"out_dir": str(local), "workers": args.workers}})
        start, cpu_start = time.perf_counter(), ladder.cpu_seconds()
        result = run_experiment(config_from_dict(raw, source=f"device {spec['entry']}"), table=bundle["table"],
                                features=bundle["inputs"][spec["inputs"]])
        wall, cpu = time.perf_counter() - start, ladder.cpu_seconds() - cpu_start
        frame = result.metrics_frame("seed")
        changes = " ".join([bundle["changes"], *args.settings])
        rows = pd.DataFrame({"entry": spec["entry"], "changes": changes, "rung": bundle["rung"],
                             "synth_seed": bundle["synth_seed"], "seed": frame["seed"], "uf1": frame["uf1"],
                             "uar": frame["uar"], "wall_s": wall, "cpu_s": cpu, "device": device,
                             "run_dir": str(run_dir)})
        stem = f"{run_dir.name[:60]}_tree{bundle['synth_seed']}"
        with tarfile.open(args.results / f"{stem}.tar.gz", "w:gz") as tar:
            tar.add(local, arcname=run_dir.name)
        rows.to_csv(args.results / f"{stem}.csv", index=False)  # last: a CSV means its run directory is complete
        _, p95 = report.chance_uf1(str(local))
        print(f"{spec['entry']} {bundle['rung']:g}x tree {bundle['synth_seed']} {changes}: UF1 "
              + " ".join(f"{u:.3f}" for u in frame["uf1"]) + f", mean {frame['uf1'].mean():.3f} ± "
              f"{frame['uf1'].std(ddof=1):.3f}; chance p95 {p95:.3f} ({wall:.0f} s wall on {device})", flush=True)


def resume_into(partial: Path, local: Path) -> None:
    """Copy a run directory an earlier device call left unfinished to ``local``, so its finished folds are kept.

    Its stored config names the earlier call's folder as ``run.out_dir``; that one key is changed to ``local``
    (the runner refuses a run directory whose config differs in any other key).
    """
    import shutil

    import yaml

    shutil.copytree(partial, local)
    path = local / "config.yaml"
    config = yaml.safe_load(path.read_text())
    config["experiment"]["run"]["out_dir"] = str(local)
    path.write_text(yaml.safe_dump(config, sort_keys=True))


def merge(args: argparse.Namespace) -> None:
    for path in sorted(args.results.glob("*.csv")):
        rows = pd.read_csv(path)
        dev = int(rows["synth_seed"].iloc[0]) != 0
        if not dev and (rows["changes"] != "(ladder schedule)").any():
            raise SystemExit(f"{path.name} ran with changes ({rows['changes'].iloc[0]}); a smoke test is not a ladder "
                             "row")
        run_dir = Path(rows["run_dir"].iloc[0])
        if run_dir.exists():
            raise SystemExit(f"{run_dir} exists already; remove it first to replace that run")
        with tarfile.open(path.with_suffix(".tar.gz")) as tar:
            tar.extractall(run_dir.parent, filter="data")
        table = args.out / ("dev.csv" if dev else "ladder_device.csv")
        if not dev:
            rows = rows.drop(columns=["changes", "synth_seed"])
            rows["commit"] = ladder.current_commit()  # the code here, which prepared the inputs and the config
        done = pd.read_csv(table) if table.exists() else pd.DataFrame()
        tmp = table.with_suffix(".tmp.csv")
        pd.concat([done, rows], ignore_index=True).to_csv(tmp, index=False)
        tmp.replace(table)
        print(f"{path.name}: {len(rows)} rows -> {table}; run directory {run_dir}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["pack", "run", "merge"])
    parser.add_argument("--out", type=Path, help="pack/merge: the ladder's (or development runs') folder")
    parser.add_argument("--entry", nargs="+", help="pack: entry or ablation names of benchmarks.studies.ladder.run")
    parser.add_argument("--rung", type=float, default=8.0)
    parser.add_argument("--set", nargs="*", default=[], dest="settings")
    parser.add_argument("--seeds", nargs="*", type=int, default=list(ladder.SEEDS))
    parser.add_argument("--synth-seed", type=int, default=0, help="pack: 0 the ladder's tree, else a development tree")
    parser.add_argument("--preset", default="small", help="pack: SynthME preset ('tiny' for a smoke run)")
    parser.add_argument("--bundle", type=Path, help="pack: file to write; run: file to read")
    parser.add_argument("--results", type=Path, help="run: folder to write; merge: folder to read")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="run: torch threads per fold worker")
    parser.add_argument("--only", nargs="*", default=[], help="run: entries whose name contains one of these")
    parser.add_argument("--resume", type=Path, help="run: folder of unfinished run directories of an earlier call")
    args = parser.parse_args()
    needed = {"pack": ("out", "entry", "bundle"), "run": ("bundle", "results"), "merge": ("out", "results")}
    missing = [f"--{k}" for k in needed[args.command] if getattr(args, k) is None]
    if missing:
        parser.error(f"{args.command} needs {' '.join(missing)}")
    unknown = [e for e in args.entry or [] if e not in {**ladder.ENTRIES, **ladder.ABLATIONS}]
    if unknown:
        parser.error(f"unknown entries {unknown!r}; known: {[*ladder.ENTRIES, *ladder.ABLATIONS]}")
    {"pack": pack, "run": run, "merge": merge}[args.command](args)


if __name__ == "__main__":  # the fold workers are spawned processes: they must not run main() again
    main()

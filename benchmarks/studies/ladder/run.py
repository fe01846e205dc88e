"""SynthME amplitude ladder: at what expression amplitude does each method see a micro-expression?

Every entry below is one registered training method (``merkit methods``) with a model, run through
the same honest MEGC2019-style composite LOSO (``merkit.run_experiment``: fixed schedule, last
epoch/step kept, nothing chosen on a test subject; metrics pooled over folds per seed) on SynthME
``small`` trees that differ only in ``amplitude_scale`` (docs/synthme.md, "Amplitude and
appearance"): the class AUs' peak displacement times 0.25 ... 8 of the micro default, same subjects,
clips, labels, cameras and nuisance motion (seed 0). The schedules are CPU-sized (docs/synthme.md
lists them); they are short, so a rung where a method stays at chance says "not within this
budget", not "never". The first schedules were fixed before any ladder score was seen; changes made
after (MiER-CvT's 20 epochs, ``precise_bn``, and the entries added below ``ENTRIES``, named by their
change) were chosen on training-set fits (:mod:`.train_fit`: training data only), and the rows they
replaced are in the history of BENCHMARKS.md.

Chance: each seed's pooled UF1 is compared with the permutation distribution of UF1 on this label
vector (the true labels scored against 2,000 random permutations of themselves: a classifier that
ignores the input but predicts the classes at their true rates); a method *beats chance* at a rung
when its mean UF1 minus its seed standard deviation is above that distribution's 95th percentile.

Runs are resumable (each ``(entry, rung)`` is a normal run directory; finished folds are kept), so
the command can be stopped and rerun. Results accumulate in ``OUT/ladder.csv`` (one row per entry x
rung x seed, with wall and CPU seconds and the commit of the code; the first entry run on a rung also
pays for generating its tree and preparing the shared features). Seeds missing from a cell that
already has some (in any ``OUT/ladder*.csv``) run into a run directory of their own
(``..._seeds_1_2``) and add their rows and cost. :mod:`.report` prints the table and plots.

    python -m benchmarks.studies.ladder.run --out /tmp/ladder [--only NAME ...] [--rungs 0.25 ... 8]
    python -m benchmarks.studies.ladder.run --configs --only NAME      # print the run configs, run nothing
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import resource
import subprocess
import time
from pathlib import Path
from typing import Any

import pandas as pd

RUNGS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
SEEDS = (0, 1, 2)

def merged(base: dict, extra: dict) -> dict:
    """``base`` with ``extra`` merged in, tables recursively (a copy)."""
    out = copy.deepcopy(base)
    for key, value in extra.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


#: One row per method (and the ablations the seeds report), as plain config data merged over
#: :func:`common`. Schedules are CPU-sized, the same at every rung, fixed before any ladder score.
ENTRIES: dict[str, dict[str, Any]] = {
    "Bi-WOOF + SVM": {
        "model": {"name": "biwoof_svm"},
        "method": {"name": "descriptor_svm", "options": {"C": [0.1, 1.0, 10.0], "kernel": "linear"}},
    },
    "LBP-TOP + SVM": {
        "model": {"name": "lbptop_svm"},
        "method": {"name": "descriptor_svm", "options": {"C": [0.1, 1.0, 10.0], "kernel": "linear"}},
    },
    "STSTNet": {
        "model": {"name": "ststnet"},
        "train": {"epochs": 60, "batch_size": 32, "lr": 5e-3, "imbalance": "weighted_loss"},
    },
    "OFF-ApexNet": {
        "model": {"name": "off_apexnet"},
        "train": {"epochs": 30, "batch_size": 32, "lr": 1e-3, "imbalance": "weighted_loss"},
    },
    "MiER-CvT": {
        "features": {"size": 224},
        "model": {"name": "mier_cvt"},
        "train": {"epochs": 20, "batch_size": 16, "lr": 5e-4, "weight_decay": 0.05, "imbalance": "weighted_loss"},
    },
    "ResNet-18 (RGB apex)": {
        "features": {"rgb_size": 32},
        "model": {"name": "resnet18_apex"},
        # precise_bn: without it the eval-mode network predicts one class on its own training set after
        # this schedule (training UF1 0.081 at 8x; :mod:`.train_fit`), with it 0.609
        "train": {"epochs": 10, "batch_size": 32, "lr": 1e-3, "imbalance": "weighted_loss", "precise_bn": True},
    },
    "ShuffleNetV2 + ViT + SVM (seed 002)": {
        "model": {"name": "shufflenet_v2_me_vit"},
        "method": {"name": "flow_pretrain_finetune", "options": {
            "size": 64, "pretrain": True, "pretrain_epochs": 5, "head": "svc", "svc_C": [1.0], "l2": 0.0}},
        # precise_bn: the network's own softmax predictions collapse without it (training UF1 0.390 -> 0.887 at 8x)
        "train": {"epochs": 5, "batch_size": 16, "lr": 1e-3, "optimizer": "adam", "weight_decay": 0.0,
                  "lr_schedule": "plateau", "imbalance": "equal_per_class", "precise_bn": True},
    },
    "MobileViT-XXS transfer + SVM (seed 003)": {
        "model": {"name": "mobilevit_xxs_me", "options": {"input_size": [64, 64]}},
        "method": {"name": "macro_transfer", "options": {
            "size": 64, "head": "svc", "svc_C": [1.0], "transfer": True,
            "macro": {"optimizer": "adam", "lr": 1e-3, "batch_size": 32, "epochs": 10, "weight_decay": 0.01,
                      "schedule": "early_stopping", "patience": 5},
            "macro_data": {"synth_subjects": 48}}},
        "train": {"epochs": 10, "batch_size": 32, "lr": 1e-3, "optimizer": "adam", "weight_decay": 0.01,
                  "imbalance": "balanced_sampler", "precise_bn": True},
    },
    "MOL (onset + apex, landmark head)": {
        "model": {"name": "mol", "options": {"num_frames": 2}},
        "method": {"name": "multitask_clips", "options": {
            "lambda_of": 0.0, "lambda_ldm": 0.1, "frames": "onset_apex", "align_size": 72, "crop_size": 64,
            "flow": "tvl1_fast"}},
        "train": {"steps": 100, "eval_every": 100, "lr": 1e-4, "weight_decay": 1e-3, "batch_size": 8,
                  "imbalance": "weighted_loss"},
    },
}
# The 32 px apex is a quarter of the 128 px face crop the flow entries read, so the class AUs' motion shrinks
# fourfold (the 8x rung's peaks: up to 20 px at the source face size); the seeds 002/003 entries read 64 px.
# Added after the 32 px row was seen (it stays in the table): 4x the cost per step.
ENTRIES["ResNet-18 (RGB apex, 64 px)"] = {**ENTRIES["ResNet-18 (RGB apex)"], "features": {"rgb_size": 64}}
# Seed 002's 5 fine-tuning epochs are about 30 optimiser steps; its network (softmax head) fits its training set
# at 0.887 UF1 after them and 0.926 after 20 (8x, :mod:`.train_fit`). Added after the 5-epoch row was seen.
ENTRIES["ShuffleNetV2 + ViT + SVM (seed 002), 20 epochs"] = merged(ENTRIES["ShuffleNetV2 + ViT + SVM (seed 002)"],
                                                                  {"train": {"epochs": 20}})
# MOL's 100 steps at the paper's lr leave it predicting the majority class on its own training set (training
# UF1 0.251 at 8x); 1,000 steps at lr 1e-3 fit it (0.769; :mod:`.train_fit`). 10x the cost: run on the
# upper rungs.
ENTRIES["MOL (onset + apex, landmark head), 1000 steps"] = merged(
    ENTRIES["MOL (onset + apex, landmark head)"], {"train": {"steps": 1000, "eval_every": 1000, "lr": 1e-3}})
# Not the paper's network: one F5C stream for onset and apex and the 3D CNN on F(apex) - F(onset), so the
# subject's face cancels before training (docs/models/mol.md, `shared_streams`). Added after the 1,000-step
# row (0.324 at 8x) was seen, on that a-priori argument; a development tree of another generator seed
# (:mod:`.dev`) did not choose it: one seed each, 0.567 with it, 0.584 for the two-stream entry.
ENTRIES["MOL (onset + apex, landmark head), 1000 steps, shared stream, subtract"] = merged(
    ENTRIES["MOL (onset + apex, landmark head), 1000 steps"],
    {"model": {"options": {"fusion": "subtract", "shared_streams": True}}})
# A diagnostic, not a method: seed 002's network (same model, precise BN, no SVM) trained with the supervised
# method on what its pre-training phase reads, onset -> apex flow (u, v, strain at 64 px), and scored on it: does
# the network learn the classes from motion, as the flow methods do, when the gray apex face does not?
ENTRIES["ShuffleNetV2 + ViT on flow (seed 002's pre-training input; diagnostic)"] = {
    "features": {"size": 64},
    "model": {"name": "shufflenet_v2_me_vit", "options": {"inputs": "flow_uv_strain", "in_chans": 3,
                                                          "input_size": [64, 64]}},
    "method": {"name": "supervised"},
    "train": {"epochs": 5, "batch_size": 16, "lr": 1e-3, "optimizer": "adam", "weight_decay": 0.0,
              "lr_schedule": "plateau", "imbalance": "weighted_loss", "precise_bn": True},
}

# Seed 002 at the paper's scale (224 px faces and flow images, 30 pre-training + 40 fine-tuning epochs), the rest as
# the entry above; and the repository's paper config (configs/shufflenet_me/table2_vit.toml: hinge SVM head, Keras L2
# 0.2, batch 32, early stopping on validation subjects drawn from the training subjects) on the ladder's flow. Added
# after the CPU-sized rows stayed at chance; run on the accelerator machine (:mod:`.device`).
ENTRIES["ShuffleNetV2 + ViT + SVM (seed 002), 224 px, 30 + 40 epochs"] = merged(
    ENTRIES["ShuffleNetV2 + ViT + SVM (seed 002)"],
    {"method": {"options": {"size": 224, "pretrain_epochs": 30}}, "train": {"epochs": 40, "amp": False}})
ENTRIES["ShuffleNetV2 + ViT + SVM (seed 002), paper config"] = {
    "model": {"name": "shufflenet_v2_me_vit"},
    "method": {"name": "flow_pretrain_finetune", "options": {
        "size": 224, "pretrain": True, "pretrain_epochs": 30, "pretrain_lr": 1e-3, "head": "hinge", "mask": "mer",
        "flow_image": "hsv", "l2": 0.2}},
    "train": {"epochs": 40, "batch_size": 32, "lr": 1e-3, "optimizer": "adam", "weight_decay": 0.0,
              "lr_schedule": "plateau", "plateau_patience": 5, "imbalance": "equal_per_class", "amp": False,
              "schedule": "early_stopping", "patience": 10},
}
# Seed 001's flow head (the paper's joint loss, lambda_of 10) on the two-stream 1,000-step entry: the paper's own
# route to motion features. Added after the two-stream rows stayed at chance; run on the accelerator machine.
ENTRIES["MOL (onset + apex, flow + landmark heads), 1000 steps"] = merged(
    ENTRIES["MOL (onset + apex, landmark head), 1000 steps"], {"method": {"options": {"lambda_of": 10.0}}})
#: Entries sized for the accelerator machine (:mod:`.device`); ``run`` does them only when ``--only``
#: names them (on 2 cores one of them costs hours).
DEVICE_ENTRIES = ("ShuffleNetV2 + ViT + SVM (seed 002), 224 px, 30 + 40 epochs",
                  "ShuffleNetV2 + ViT + SVM (seed 002), paper config",
                  "MOL (onset + apex, flow + landmark heads), 1000 steps",
                  "MOL (onset + apex, flow + landmark heads), 1000 steps, creases 0.8")

#: The seeds' ablation directions, each a change of one main entry (applied with :func:`merged`).
ABLATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "MiER-CvT (RGB apex)": ("MiER-CvT", {"features": {"rgb_size": 224}, "model": {"options": {"inputs": "rgb_apex"}}}),
    "MiER-CvT (flow only)": ("MiER-CvT", {"model": {"options": {"inputs": "flow_uv"}}}),
    "ShuffleNetV2 + SVM (plain)": ("ShuffleNetV2 + ViT + SVM (seed 002)", {"model": {"name": "shufflenet_v2_me"}}),
    "ShuffleNetV2 + ViT, softmax head": ("ShuffleNetV2 + ViT + SVM (seed 002)",
                                         {"method": {"options": {"head": "softmax"}}}),
    "MobileViT-XXS, no transfer + SVM": ("MobileViT-XXS transfer + SVM (seed 003)",
                                         {"method": {"options": {"transfer": False}}}),
    "MOL (onset + apex), no auxiliary head": ("MOL (onset + apex, landmark head)",
                                              {"method": {"options": {"lambda_ldm": 0.0, "lambda_ce": 1.0}}}),
    "MOL (onset + apex), 1000 steps, no auxiliary head": (
        "MOL (onset + apex, landmark head), 1000 steps",
        {"method": {"options": {"lambda_ldm": 0.0, "lambda_ce": 1.0}}}),
    "MOL (onset + apex), 1000 steps, shared stream, subtract, no auxiliary head": (
        "MOL (onset + apex, landmark head), 1000 steps, shared stream, subtract",
        {"method": {"options": {"lambda_ldm": 0.0, "lambda_ce": 1.0}}}),
    # not a seed's ablation: the apex-image methods with SynthME's appearance cue (creases) switched on
    "ResNet-18 (RGB apex), creases 0.1": ("ResNet-18 (RGB apex)", {"data": {"synth_overrides": {
        "appearance_contrast": 0.1}}}),
    "MobileViT-XXS transfer + SVM, creases 0.1": ("MobileViT-XXS transfer + SVM (seed 003)", {"data": {
        "synth_overrides": {"appearance_contrast": 0.1}}}),
    "ShuffleNetV2 + ViT + SVM, 20 epochs, creases 0.1": ("ShuffleNetV2 + ViT + SVM (seed 002), 20 epochs", {"data": {
        "synth_overrides": {"appearance_contrast": 0.1}}}),
    "MOL (onset + apex), 1000 steps, creases 0.1": ("MOL (onset + apex, landmark head), 1000 steps", {"data": {
        "synth_overrides": {"appearance_contrast": 0.1}}}),
}
# An appearance ladder for seed 002 (the crease cue of real apex frames, 0.1 -> 0.8 relative luminance) on
# the 8x trees, run upwards until the entry rises above chance; every rung run is reported.
for _contrast in (0.1, 0.2, 0.4, 0.8):
    ABLATIONS[f"ShuffleNetV2 + ViT + SVM (seed 002), creases {_contrast:g}"] = (
        "ShuffleNetV2 + ViT + SVM (seed 002)", {"data": {"synth_overrides": {"appearance_contrast": _contrast}}})
# seed 002's Table 2 directions at the cue where the entry is above chance (its 8x rows are all in the band)
_CREASES_08 = {"data": {"synth_overrides": {"appearance_contrast": 0.8}}}
ABLATIONS["ShuffleNetV2 + SVM (plain), creases 0.8"] = ("ShuffleNetV2 + ViT + SVM (seed 002)", merged(
    {"model": {"name": "shufflenet_v2_me"}}, _CREASES_08))
ABLATIONS["ShuffleNetV2 + ViT, softmax head, creases 0.8"] = ("ShuffleNetV2 + ViT + SVM (seed 002)", merged(
    {"method": {"options": {"head": "softmax"}}}, _CREASES_08))
# the paper's two-stream MOL at the strongest cue seed 002 needed on this tree
ABLATIONS["MOL (onset + apex), 1000 steps, creases 0.8"] = ("MOL (onset + apex, landmark head), 1000 steps",
                                                           _CREASES_08)
# Seed 001's auxiliary heads on the paper's two-stream MOL where it is above chance (8x, creases 0.8), the
# landmark-head entry above against no head and against both heads (the flow head is dear: see DEVICE_ENTRIES)
ABLATIONS["MOL (onset + apex), 1000 steps, no auxiliary head, creases 0.8"] = (
    "MOL (onset + apex, landmark head), 1000 steps",
    merged({"method": {"options": {"lambda_ldm": 0.0, "lambda_ce": 1.0}}}, _CREASES_08))
ABLATIONS["MOL (onset + apex, flow + landmark heads), 1000 steps, creases 0.8"] = (
    "MOL (onset + apex, landmark head), 1000 steps", merged({"method": {"options": {"lambda_of": 10.0}}}, _CREASES_08))
# the other apex-image network at the same cue, for comparison
ABLATIONS["ResNet-18 (RGB apex, 64 px), creases 0.2"] = ("ResNet-18 (RGB apex, 64 px)", {"data": {
    "synth_overrides": {"appearance_contrast": 0.2}}})

#: The seeds' ablation directions: each a chain of entries in the paper's order (each claimed below the next),
#: compared at :data:`DIRECTION_RUNG` by ``report`` (table and ``--directions-plot``).
DIRECTIONS: dict[str, list[str]] = {
    "seed 000: RGB < flow < flow + strain": ["MiER-CvT (RGB apex)", "MiER-CvT (flow only)", "MiER-CvT"],
    "seed 002: plain < + ViT (SVM heads)": ["ShuffleNetV2 + SVM (plain)", "ShuffleNetV2 + ViT + SVM (seed 002)"],
    "seed 002: softmax < SVM (+ ViT)": ["ShuffleNetV2 + ViT, softmax head", "ShuffleNetV2 + ViT + SVM (seed 002)"],
    "seed 002 at creases 0.8: plain < + ViT": ["ShuffleNetV2 + SVM (plain), creases 0.8",
                                              "ShuffleNetV2 + ViT + SVM (seed 002), creases 0.8"],
    "seed 002 at creases 0.8: softmax < SVM": ["ShuffleNetV2 + ViT, softmax head, creases 0.8",
                                              "ShuffleNetV2 + ViT + SVM (seed 002), creases 0.8"],
    "seed 003: no transfer < transfer": ["MobileViT-XXS, no transfer + SVM", "MobileViT-XXS transfer + SVM (seed 003)"],
    "seed 001, shared stream: no head < landmark head": [
        "MOL (onset + apex), 1000 steps, shared stream, subtract, no auxiliary head",
        "MOL (onset + apex, landmark head), 1000 steps, shared stream, subtract"],
    "seed 001, creases 0.8: no head < landmark < flow + landmark": [
        "MOL (onset + apex), 1000 steps, no auxiliary head, creases 0.8", "MOL (onset + apex), 1000 steps, creases 0.8",
        "MOL (onset + apex, flow + landmark heads), 1000 steps, creases 0.8"],
}
DIRECTION_RUNG = 8.0


def entry_config(name: str) -> dict:
    if name in ENTRIES:
        return ENTRIES[name]
    base, change = ABLATIONS[name]
    return merged(ENTRIES[base], change)


def slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text.lower()).strip("_")


def rung_name(rung: float) -> str:
    return f"x{rung:g}"


def common(out: Path, rung: float, name: str, seeds: list[int], workers: int, preset: str = "small") -> dict:
    overrides = {} if rung == 1.0 else {"amplitude_scale": rung}
    return {
        "data": {"source": "synth", "synth_root": str(out / rung_name(rung) / f"synthme_{preset}"),
                 "synth_preset": preset, "synth_overrides": overrides},
        "features": {"flow": "tvl1_fast", "face_size": 128, "size": 28, "workers": workers,
                     "cache_dir": str(out / "cache")},
        "protocol": {"name": "megc2019_composite", "label_set": "megc3", "select_on_test": False},
        "train": {"schedule": "fixed", "threads": 1, "progress": False},
        "run": {"seeds": seeds, "out_dir": str(out / rung_name(rung) / "runs" / slug(name)), "executor": "process",
                "workers": workers, "method_name": name, "bootstrap": 0},
    }


def build(out: Path, rung: float, name: str, seeds: list[int], workers: int, preset: str = "small",
          extra: dict | None = None) -> dict:
    """The run config of entry ``name`` at ``rung``, with ``extra`` (config data) merged over it."""
    raw = merged(merged(common(out, rung, name, seeds, workers, preset), entry_config(name)), extra or {})
    extra = {k: v for k, v in raw["data"]["synth_overrides"].items() if k != "amplitude_scale"}
    if extra:  # another tree: its own folder beside the rung's plain one
        raw["data"]["synth_root"] += "".join(f"_{k}{v:g}" for k, v in sorted(extra.items()))
    if raw["model"]["name"] == "mobilevit_xxs_me":  # the macro set does not depend on the rung: one copy, cached
        raw["method"]["options"]["macro_data"]["synth_root"] = str(out / "synthme_macro")
    if raw.get("method", {}).get("name") == "descriptor_svm":
        raw.pop("train")
    return raw


#: The machine the ladder's rows were measured on unless a row names another.
CPU = "2-core CPU"


def seeds_done(out: Path, name: str, rung: float) -> set[int]:
    """Seeds of ``name`` at ``rung`` recorded in any results file of ``out`` (``ladder*.csv``)."""
    seeds: set[int] = set()
    for path in out.glob("ladder*.csv"):
        frame = pd.read_csv(path)
        seeds |= set(frame.loc[(frame["entry"] == name) & (frame["rung"] == rung), "seed"].astype(int))
    return seeds


def cpu_seconds() -> float:
    """User + system CPU time of this process and of its finished children (the fold workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run(out: Path, names: list[str], rungs: list[float], seeds: list[int], workers: int, preset: str = "small",
        table_name: str = "ladder.csv") -> None:
    # merkit's experiment runner imports torch: loaded when a run starts, so that report, the other
    # ladder modules and benchmarks/tables.py read the entries without it
    from merkit.experiments.config import config_from_dict
    from merkit.experiments.run import run_experiment

    out.mkdir(parents=True, exist_ok=True)
    commit = current_commit()
    table = out / table_name
    done = pd.read_csv(table) if table.exists() else pd.DataFrame(columns=["entry", "rung", "seed"])
    for name in names:
        for rung in rungs:
            have = seeds_done(out, name, rung)
            todo = [s for s in seeds if s not in have]
            if not todo:
                continue
            raw = build(out, rung, name, todo, workers, preset)
            if have:  # the earlier seeds' run directory keeps their config; the added seeds get one of their own
                raw["run"]["out_dir"] += "_seeds_" + "_".join(str(s) for s in todo)
            start, cpu_start = time.perf_counter(), cpu_seconds()
            result = run_experiment(config_from_dict(raw, source=f"ladder {name} {rung_name(rung)}"))
            seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu_start
            frame = result.metrics_frame("seed")
            rows = pd.DataFrame({"entry": name, "rung": rung, "seed": frame["seed"], "uf1": frame["uf1"],
                                 "uar": frame["uar"], "wall_s": seconds, "cpu_s": cpu, "run_dir": str(result.run_dir),
                                 "commit": commit})
            redone = (done["entry"] == name) & (done["rung"] == rung) & done["seed"].astype(int).isin(todo)
            done = pd.concat([done[~redone], rows], ignore_index=True)
            tmp = table.with_name(f".{table.name}.tmp")  # not a ladder*.csv that report would read
            done.to_csv(tmp, index=False)
            tmp.replace(table)
            print(f"{name} {rung_name(rung)}: UF1 {frame['uf1'].mean():.4f} ± {frame['uf1'].std(ddof=1):.4f} "
                  f"({seconds:.0f} s wall, {cpu:.0f} CPU-s)", flush=True)


def current_commit() -> str:
    """Short hash of the checked-out commit (the code a fresh cell ran at), or "unknown" outside a git tree."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True,
                             cwd=Path(__file__).parent)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/amplitude_ladder"))
    parser.add_argument("--only", nargs="*", default=None,
                        help="entry names (default: every entry but DEVICE_ENTRIES, then ablations)")
    parser.add_argument("--rungs", nargs="*", type=float, default=list(RUNGS))
    parser.add_argument("--seeds", nargs="*", type=int, default=list(SEEDS))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--preset", default="small", help="SynthME preset ('tiny' for a smoke run)")
    parser.add_argument("--table", default="ladder.csv",
                        help="results file in --out (another name lets a second process share the trees and cache; "
                             "report reads every ladder*.csv)")
    parser.add_argument("--configs", action="store_true",
                        help="print the run configs of the entries at 1x; run nothing")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    names = args.only or [n for n in [*ENTRIES, *ABLATIONS] if n not in DEVICE_ENTRIES]
    unknown = [n for n in names if n not in ENTRIES and n not in ABLATIONS]
    if unknown:
        parser.error(f"unknown entries {unknown}; known: {[*ENTRIES, *ABLATIONS]}")
    if args.configs:
        for name in names:
            print(json.dumps({name: build(args.out, 1.0, name, args.seeds, args.workers, args.preset)}, indent=1))
    else:
        run(args.out, names, args.rungs, args.seeds, args.workers, args.preset, args.table)


if __name__ == "__main__":  # the fold workers are spawned processes: they must not run main() again
    main()

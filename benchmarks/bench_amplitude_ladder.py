"""SynthME amplitude ladder: at what expression amplitude does each method see a micro-expression?

Every entry below is one registered training method (``merkit methods``) with a model, run through
the same honest MEGC2019-style composite LOSO (``merkit.run_experiment``: fixed schedule, last
epoch/step kept, nothing chosen on a test subject; metrics pooled over folds per seed) on SynthME
``small`` trees that differ only in ``amplitude_scale`` (docs/synthme.md, "Amplitude and
appearance"): the class AUs' peak displacement times 0.25 ... 8 of the micro default, same subjects,
clips, labels, cameras and nuisance motion (seed 0). The schedules are CPU-sized (the table in
BENCHMARKS.md gives them); they are short, so a rung where a method stays at chance says "not within
this budget", not "never". The first schedules were fixed before any ladder score was seen; changes
made after (MiER-CvT's 20 epochs, ``precise_bn``, and the entries added below ``ENTRIES``, named by
their change) were chosen on training-set fits (``bench_ladder_train_fit.py``: training data only),
and the rows they replace or extend are recorded in BENCHMARKS.md.

Chance: each seed's pooled UF1 is compared with the permutation distribution of UF1 on this label
vector (the true labels scored against 2,000 random permutations of themselves: a classifier that
ignores the input but predicts the classes at their true rates); a method *beats chance* at a rung
when its mean UF1 minus its seed standard deviation is above that distribution's 95th percentile.

Runs are resumable (each ``(entry, rung)`` is a normal run directory; finished folds are kept), so
the script can be stopped and rerun. Results accumulate in ``OUT/ladder.csv`` (one row per entry x
rung x seed, with wall and CPU seconds; the first entry run on a rung also pays for generating its
tree and preparing the shared features). Seeds missing from a cell that already has some (in any
``OUT/ladder*.csv``) run into a run directory of their own (``..._seeds_1_2``) and add their rows and cost.

``report`` shows the cells of ``OUT`` over those recorded in ``benchmarks/results/amplitude_ladder.csv``
(every cell run so far: seeds, UF1 mean and std, cost, machine), so the table and plot can be redrawn
without rerunning them; ``--record`` writes the merged cells back. Cells recorded before that file
existed (stops 16-27) have no per-seed values or UAR, and their entry's cost sits on its lowest rung.

    python benchmarks/bench_amplitude_ladder.py run --out /tmp/ladder [--only NAME ...] [--rungs 0.25 ... 8]
    python benchmarks/bench_amplitude_ladder.py report --out /tmp/ladder [--plot docs/img/amplitude_ladder.png] [--record]
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ladder_plots import draw_directions, draw_ladder
from merkit.evaluation.metrics import compute_metrics
from merkit.evaluation.rundir import RunDirectory
from merkit.training.config import config_from_dict
from merkit.training.experiment import run_experiment

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
        # this schedule (training UF1 0.081 at 8x; bench_ladder_train_fit.py), with it 0.609
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
# fourfold (the 8x rung's peaks: up to 20 px at the source face size); the seeds 002/003 entries read 64 px. Added after the 32 px row was seen (it stays in the table): 4x the cost per step.
ENTRIES["ResNet-18 (RGB apex, 64 px)"] = {**ENTRIES["ResNet-18 (RGB apex)"], "features": {"rgb_size": 64}}
# Seed 002's 5 fine-tuning epochs are about 30 optimiser steps; its network (softmax head) fits its training set
# at 0.887 UF1 after them and 0.926 after 20 (8x, bench_ladder_train_fit.py). Added after the 5-epoch row was seen.
ENTRIES["ShuffleNetV2 + ViT + SVM (seed 002), 20 epochs"] = merged(ENTRIES["ShuffleNetV2 + ViT + SVM (seed 002)"],
                                                                  {"train": {"epochs": 20}})
# MOL's 100 steps at the paper's lr leave it predicting the majority class on its own training set (training
# UF1 0.251 at 8x); 1,000 steps at lr 1e-3 fit it (0.769; bench_ladder_train_fit.py). 10x the cost: run on the
# upper rungs.
ENTRIES["MOL (onset + apex, landmark head), 1000 steps"] = merged(
    ENTRIES["MOL (onset + apex, landmark head)"], {"train": {"steps": 1000, "eval_every": 1000, "lr": 1e-3}})
# Not the paper's network: one F5C stream for onset and apex and the 3D CNN on F(apex) - F(onset), so the
# subject's face cancels before training (docs/models/mol.md, `shared_streams`). Added after the 1,000-step
# row (0.324 at 8x) was seen, on that a-priori argument; a development tree of another generator seed
# (bench_ladder_dev.py) did not choose it: one seed each, 0.567 with it, 0.584 for the two-stream entry.
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
# the entry above; and the repository's paper config (configs/seed002_shufflenet_vit.toml: hinge SVM head, Keras L2
# 0.2, batch 32, early stopping on validation subjects drawn from the training subjects) on the ladder's flow. Added
# after the CPU-sized rows stayed at chance; run on the accelerator machine (bench_ladder_device.py).
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
#: Entries sized for the accelerator machine (``bench_ladder_device.py``); ``run`` does them only when ``--only``
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
    "MOL (onset + apex), 1000 steps, no auxiliary head": ("MOL (onset + apex, landmark head), 1000 steps",
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
# Stop 19: an appearance ladder for seed 002 (the crease cue of real apex frames, 0.1 -> 0.8 relative luminance) on
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
# Stop 27: seed 001's auxiliary heads on the paper's two-stream MOL where it is above chance (8x, creases 0.8), the
# landmark-head entry above against no head and against both heads (the flow head is dear: see DEVICE_ENTRIES)
ABLATIONS["MOL (onset + apex), 1000 steps, no auxiliary head, creases 0.8"] = (
    "MOL (onset + apex, landmark head), 1000 steps", merged({"method": {"options": {"lambda_ldm": 0.0, "lambda_ce": 1.0}}},
                                                            _CREASES_08))
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
    out.mkdir(parents=True, exist_ok=True)
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
                                 "uar": frame["uar"], "wall_s": seconds, "cpu_s": cpu, "run_dir": str(result.run_dir)})
            redone = (done["entry"] == name) & (done["rung"] == rung) & done["seed"].astype(int).isin(todo)
            done = pd.concat([done[~redone], rows], ignore_index=True)
            tmp = table.with_name(f".{table.name}.tmp")  # not a ladder*.csv that report would read
            done.to_csv(tmp, index=False)
            tmp.replace(table)
            print(f"{name} {rung_name(rung)}: UF1 {frame['uf1'].mean():.4f} ± {frame['uf1'].std(ddof=1):.4f} "
                  f"({seconds:.0f} s wall, {cpu:.0f} CPU-s)", flush=True)


def chance_uf1(run_dir: str, draws: int = 2000) -> tuple[float, float]:
    """Mean and 95th percentile of UF1 for permutations of the composite's true labels (read from ``run_dir``)."""
    labels = RunDirectory(Path(run_dir)).read_predictions()
    labels = labels[labels["seed"] == labels["seed"].min()]["true_label"].to_numpy()
    rng = np.random.default_rng(0)
    classes = sorted(set(labels))
    scores = np.array([compute_metrics(labels, rng.permutation(labels), classes).uf1 for _ in range(draws)])
    return float(scores.mean()), float(np.quantile(scores, 0.95))


#: The cells of every run so far (one row per entry x rung: seeds, UF1 mean and std, cost, machine, chance), so
#: that ``report`` can redraw the table and plot without rerunning them; ``report --record`` rewrites it.
RECORDED = Path(__file__).parent / "results" / "amplitude_ladder.csv"
CELL_COLUMNS = ["entry", "rung", "seeds", "uf1_mean", "uf1_std", "uar_mean", "uar_std", "uf1_per_seed", "wall_s",
                "cpu_s", "device", "chance_mean", "chance_p95"]


def measured_cells(out: Path) -> pd.DataFrame | None:
    """One row per entry x rung of the per-seed results files in ``out`` (``ladder*.csv``); None if there are none."""
    paths = sorted(out.glob("ladder*.csv"))
    if not paths:
        return None
    table = pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)
    if "device" not in table:
        table["device"] = CPU
    table["device"] = table["device"].fillna(CPU)  # rows of the accelerator machine name it (bench_ladder_device.py)
    table = table.sort_values(["entry", "rung", "seed"])
    stats = table.groupby(["entry", "rung"]).agg(
        uf1_mean=("uf1", "mean"), uf1_std=("uf1", "std"), uar_mean=("uar", "mean"), uar_std=("uar", "std"),
        seeds=("seed", "count"), device=("device", "first"),
        uf1_per_seed=("uf1", lambda v: " ".join(f"{x:.4f}" for x in v))).reset_index()
    # every seed row of one run repeats that run's cost; seeds added by a later run add theirs
    runs = table.drop_duplicates(["entry", "rung", "wall_s", "cpu_s"])
    cost = runs.groupby(["entry", "rung"])[["wall_s", "cpu_s"]].sum().reset_index()
    stats = stats.merge(cost, on=["entry", "rung"])
    stats["chance_mean"], stats["chance_p95"] = chance_uf1(table["run_dir"].iloc[0])  # the same 67 labels everywhere
    return stats


def summary(out: Path, recorded: Path | None = None) -> tuple[pd.DataFrame, float, float]:
    """Cells measured in ``out`` over those ``recorded`` (a cell measured in both: ``out``'s), with chance.

    Returns ``(cells, chance mean, chance 95th percentile)``; ``cells`` has :data:`CELL_COLUMNS` and
    ``above_chance`` (mean UF1 minus its seed std above the 95th percentile).
    """
    parts = [frame for frame in (measured_cells(out),) if frame is not None]
    if recorded is not None and recorded.exists():
        old = pd.read_csv(recorded)
        if parts:
            fresh = pd.MultiIndex.from_frame(parts[0][["entry", "rung"]])
            old = old[~pd.MultiIndex.from_frame(old[["entry", "rung"]]).isin(fresh)]
        parts.insert(0, old)
    if not parts:
        raise SystemExit(f"no results: no ladder*.csv in {out}" + ("" if recorded is None else f" and no {recorded}")
                         + "; run the ladder first (`run --out ...`).")
    stats = pd.concat(parts, ignore_index=True).reindex(columns=CELL_COLUMNS)
    mean, p95 = float(stats["chance_mean"].iloc[-1]), float(stats["chance_p95"].iloc[-1])
    stats["chance_mean"], stats["chance_p95"] = mean, p95
    stats["above_chance"] = stats["uf1_mean"] - stats["uf1_std"] > p95
    return stats, mean, p95


def record(stats: pd.DataFrame, path: Path) -> None:
    """Write the cells (:data:`CELL_COLUMNS`) to ``path`` through a temporary file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    stats[CELL_COLUMNS].to_csv(tmp, index=False, float_format="%.6g")
    tmp.replace(path)


def step_verdict(low: pd.Series, high: pd.Series, chance_p95: float) -> str:
    """Whether the cell ``high`` is above ``low``, as the paper claims, judged on their seed spreads."""
    if min(low["seeds"], high["seeds"]) < 2:
        return f"not judged (one seed; means {'in' if high['uf1_mean'] > low['uf1_mean'] else 'against'} the paper's order)"
    if max(low["uf1_mean"] - low["uf1_std"], high["uf1_mean"] - high["uf1_std"]) <= chance_p95:
        return "both at chance: no direction"
    if high["uf1_mean"] - high["uf1_std"] > low["uf1_mean"] + low["uf1_std"]:
        return "reproduced (spreads apart)"
    if high["uf1_mean"] > low["uf1_mean"]:
        return "paper's order, within spread"
    if low["uf1_mean"] - low["uf1_std"] > high["uf1_mean"] + high["uf1_std"]:
        return "reversed (spreads apart)"
    return "reversed, within spread"


def uf1_text(cell: pd.Series) -> str:
    """``"0.642 ± 0.012"``, or the mean alone for a one-seed cell."""
    return f"{cell['uf1_mean']:.3f}" + ("" if cell["seeds"] < 2 else f" ± {cell['uf1_std']:.3f}")


def directions(stats: pd.DataFrame, chance_p95: float, rung: float = DIRECTION_RUNG) -> list[tuple[str, str, str]]:
    """``(group, "low < high", verdict)`` for every step of :data:`DIRECTIONS` at ``rung``."""
    cells = stats[stats["rung"] == rung].set_index("entry")
    out = []
    for group, names in DIRECTIONS.items():
        for low, high in zip(names, names[1:]):
            missing = [n for n in (low, high) if n not in cells.index]
            if missing:
                out.append((group, f"{low} < {high}", f"not run: {', '.join(missing)}"))
                continue
            a, b = cells.loc[low], cells.loc[high]
            out.append((group, f"{low} {uf1_text(a)} < {high} {uf1_text(b)}", step_verdict(a, b, chance_p95)))
    return out


def report(out: Path, plot: Path | None, recorded: Path | None = None, write_record: bool = False,
           directions_plot: Path | None = None) -> None:
    stats, chance_mean, chance_p95 = summary(out, recorded)
    if write_record and recorded is not None:
        record(stats, recorded)
        print(f"recorded cells: {recorded}")
    order = [n for n in [*ENTRIES, *ABLATIONS] if n in set(stats["entry"])]
    rungs = sorted(stats["rung"].unique())
    print(f"Chance (label permutations): UF1 mean {chance_mean:.3f}, 95th percentile {chance_p95:.3f}\n")
    print("| entry | " + " | ".join(f"{r:g}x" for r in rungs) + " | first rung above chance | wall s | CPU-s |")
    print("|---|" + "---:|" * len(rungs) + "---|---:|---:|")
    for name in order:
        part = stats[stats["entry"] == name].set_index("rung")
        cells = []
        for r in rungs:
            if r not in part.index:
                cells.append("–")
                continue
            row = part.loc[r]
            if row["seeds"] < 2:  # no spread: the chance rule cannot judge it
                cells.append(f"{row['uf1_mean']:.3f} ({row['seeds']} seed)")
                continue
            mark = "**" if row["above_chance"] else ""
            cells.append(f"{mark}{row['uf1_mean']:.3f} ± {row['uf1_std']:.3f}{mark}")
        above = part.index[part["above_chance"]]
        first = f"{min(above):g}x" if len(above) else "none"
        if not len(above) and (part["seeds"] < 2).any():
            first = "not judged (one seed)"
        unrun = [r for r in rungs if r < (min(above) if len(above) else float("inf")) and r not in part.index]
        if unrun:  # "first" is only the first of the rungs run
            first += f" (not run: {', '.join(f'{r:g}x' for r in unrun)})"
        mark = "" if (part["device"] == CPU).all() else " †"
        print(f"| {name}{mark} | " + " | ".join(cells) + f" | {first} | {part['wall_s'].sum():.0f} | "
              f"{part['cpu_s'].sum():.0f} |")
    machines = stats["device"].str.split(",").str[0]  # "NVIDIA H200, 12 workers" -> "NVIDIA H200"
    for machine, part in stats.groupby(machines, sort=False):
        label = "All runs" if machine == CPU else "† runs"
        print(f"\n{label} on {machine}: {part['wall_s'].sum() / 60:.1f} min wall, {part['cpu_s'].sum() / 60:.1f} CPU-min")
    print(f"\nAblation directions at {DIRECTION_RUNG:g}x (the paper's order: each entry claimed below the next)\n")
    print("| claim | cells (UF1) | verdict |\n|---|---|---|")
    for group, step, verdict in directions(stats, chance_p95):
        print(f"| {group} | {step} | {verdict} |")
    if plot is not None:
        draw_ladder(stats, [n for n in order if n in ENTRIES], {n: ABLATIONS[n][0] for n in order if n in ABLATIONS},
                    chance_mean, chance_p95, plot)
        print(f"plot: {plot}")
    if directions_plot is not None:
        draw_directions(stats, DIRECTIONS, DIRECTION_RUNG, chance_mean, chance_p95, directions_plot)
        print(f"directions plot: {directions_plot}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["run", "report", "configs"])
    parser.add_argument("--out", type=Path, default=Path("runs/amplitude_ladder"))
    parser.add_argument("--only", nargs="*", default=None,
                        help="entry names (default: every entry but DEVICE_ENTRIES, then ablations)")
    parser.add_argument("--rungs", nargs="*", type=float, default=list(RUNGS))
    parser.add_argument("--seeds", nargs="*", type=int, default=list(SEEDS))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--plot", type=Path, default=None, help="report: UF1 vs amplitude PNG")
    parser.add_argument("--directions-plot", type=Path, default=None,
                        help="report: PNG of the seeds' ablation directions at 8x")
    parser.add_argument("--preset", default="small", help="SynthME preset ('tiny' for a smoke run of the script)")
    parser.add_argument("--table", default="ladder.csv",
                        help="results file in --out (another name lets a second process share the trees and cache; "
                             "report reads every ladder*.csv)")
    parser.add_argument("--recorded", type=Path, default=RECORDED,
                        help="cells recorded by earlier runs, shown where --out has no results for them")
    parser.add_argument("--no-recorded", action="store_true",
                        help="report only the cells of --out (a smoke run on another preset, say)")
    parser.add_argument("--record", action="store_true",
                        help="report: rewrite --recorded with every cell shown (those of --out replacing theirs)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    names = args.only or [n for n in [*ENTRIES, *ABLATIONS] if n not in DEVICE_ENTRIES]
    unknown = [n for n in names if n not in ENTRIES and n not in ABLATIONS]
    if unknown:
        parser.error(f"unknown entries {unknown}; known: {[*ENTRIES, *ABLATIONS]}")
    if args.command == "run":
        run(args.out, names, args.rungs, args.seeds, args.workers, args.preset, args.table)
    elif args.command == "configs":
        for name in names:
            print(json.dumps({name: build(args.out, 1.0, name, args.seeds, args.workers, args.preset)}, indent=1))
    else:
        report(args.out, args.plot, None if args.no_recorded else args.recorded, args.record, args.directions_plot)


if __name__ == "__main__":
    main()

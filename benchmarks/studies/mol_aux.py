"""Do MOL's auxiliary heads really learn? Flow EPE and landmark NME against SynthME's truth.

A check in the direction of seed 001's Tables XIV (optical-flow EPE) and XV
(landmark NME): train (a) MOL joint (CE + flow + landmark losses) and (b) MOL without the
recognition loss (``lambda_ce = 0``, the paper's "w/o MER"), and optionally the tables' other
rows (``VARIANTS``: without the landmark or the flow head, with or without MER), same seed,
steps and data, on the training subjects of SynthME; then score the heads on held-out subjects against the
generator's exact motion (:class:`merkit.synth.SynthTruth`) and true landmarks, before
training (init) and after. References on the same pixels: the zero flow and the TV-L1 flow
the head is trained on (EPE); the training set's mean landmark shape and dlib (NME).

Data: the MOL preparation of :mod:`merkit.inputs.clips` (aligned 144x144 gray faces on
the onset transform, dlib landmarks on every frame), read from the feature cache, then
for the CPU by default halved to 72x72 (area; ``--align 144`` keeps the paper's 144), landmarks
and the alignment matrix scaled with them, ``frames`` T-frame clips (``clip_offsets``,
``max_clips``), TV-L1 (OpenCV defaults) recomputed between the consecutive frames of every clip
at that size; the network sees ``size`` x ``size`` crops (random in training, centre for scoring).
The paper's scale on a GPU: ``--align 144 --size 128 --frames 8 --batch 32 --steps 1000
--device cuda``.

Truth in the network's coordinates: the true forward field between the two frames of every
pair (frame pixels, :meth:`~merkit.synth.truth.ClipMotion.pair_field`) is resampled on the
aligned grid through the clip's alignment ``M`` and its vectors are mapped by ``M``'s linear
part; pixels whose source lies outside the frame are left out. True landmarks are mapped by
``M``. NME is the mean point error over the ground truth's inter-ocular distance (eye-centre
distance, as MOL's loss), in percent; failure = NME > 10 %.

    python -m benchmarks.studies.mol_aux --root /tmp/mol9/synth-small --cache /tmp/mol9/cache \\
        --steps 240 --batch 4 --frames 4 --size 64 --lr 1e-3 --threads 1 --out runs/mol_aux.json

``--eval-every N`` adds a learning curve (held-out EPE and NME every N steps; scoring time is
not counted in ``train_seconds``). It is recorded, never used to choose a step: the reported row
is the last step.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from merkit._io import write_json
from merkit.data.composite import MEGC2019Composite
from merkit.inputs.clips import MOLDataConfig, MOLVideo, clip_offsets, inter_ocular, prepare_videos
from merkit.models import create_model
from merkit.motion import compute_flow, create_flow
from merkit.synth import SynthTruth
from merkit.synth.clip import pair_field
from merkit.training.methods import encode_labels
from merkit.training.methods.clip_training import clip_batch, train_clips
from merkit.training.methods.multitask_clips import MultitaskClipsOptions, arch_options
from merkit.training.settings import TrainConfig

log = logging.getLogger("benchmarks.studies.mol_aux")
CLASSES = ("negative", "positive", "surprise")


def rescale(video: MOLVideo, frames: int, max_clips: int, flow_method, factor: int) -> MOLVideo:
    """The copy of a prepared 144x144 video at ``144 / factor`` px with ``frames``-frame clips (module docstring)."""
    if factor == 1:
        small, marks, matrix = video.frames, video.landmarks, video.matrix
    else:
        small = np.stack([cv2.resize(f, (f.shape[1] // factor, f.shape[0] // factor), interpolation=cv2.INTER_AREA)
                          for f in video.frames])
        # pixel centres: x in the 144 grid sits at (x + 0.5) / factor - 0.5 in the smaller grid
        shift = 0.5 / factor - 0.5
        marks = (video.landmarks + 0.5) / factor - 0.5
        down = np.array([[1 / factor, 0.0, shift], [0.0, 1 / factor, shift], [0.0, 0.0, 1.0]])
        matrix = (down @ np.vstack([video.matrix, [0.0, 0.0, 1.0]]))[:2]
    clips = clip_offsets(len(small), frames, max_clips)
    flows = np.empty((len(clips), frames - 1, 2, *small.shape[1:]), dtype=np.float16)
    done: dict[tuple[int, int], np.ndarray] = {}
    for c, idx in enumerate(clips):
        for t in range(frames - 1):
            pair = (int(idx[t]), int(idx[t + 1]))
            if pair not in done:
                done[pair] = compute_flow(small[pair[0]], small[pair[1]], flow_method).transpose(2, 0, 1)
            flows[c, t] = done[pair]
    return MOLVideo(video.key, small, marks.astype(np.float32), clips, flows, matrix, video.onset_index,
                    video.apex_index)


def aligned_truth(truth: SynthTruth, video: MOLVideo, frame_numbers, crop: int) -> tuple[np.ndarray, np.ndarray]:
    """True flow of every pair of every clip and true landmarks of every clip frame, in crop pixels.

    ``frame_numbers`` are the on-disk numbers of the video's frames (the sample's; the loader may
    keep a sub-range of the clip folder), which place them among the generator's frames.

    Returns:
        ``flows`` ``(n_clips, T - 1, 2, crop, crop)`` float32 (NaN where the source is outside the
        frame) and ``marks`` ``(n_clips, T, 68, 2)`` float32.
    """
    dataset, subject, clip = video.key.split("/")
    motion = truth.motion(dataset, subject, clip)
    if len(frame_numbers) != len(video.frames):
        raise SystemExit(f"{video.key}: {len(video.frames)} prepared frames but {len(frame_numbers)} frame numbers.")
    where = {n: t for t, n in enumerate(motion.frame_numbers)}
    position = np.array([where[int(n)] for n in frame_numbers])  # video frame -> generator frame
    size = video.frames.shape[-1]
    off = (size - crop) // 2
    lin = video.matrix[:, :2]
    onset = {t: motion.onset_field(position[t]) for t in np.unique(video.clips)}
    flows = np.empty((len(video.clips), video.clips.shape[1] - 1, 2, crop, crop), np.float32)
    for c, idx in enumerate(video.clips):
        for t in range(len(idx) - 1):
            field = pair_field(onset[idx[t]], onset[idx[t + 1]], motion.iterations)
            warped = cv2.warpAffine(field, video.matrix, (size, size), flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_CONSTANT, borderValue=(np.nan, np.nan))
            vec = warped @ lin.T.astype(np.float32)
            flows[c, t] = vec[off : off + crop, off : off + crop].transpose(2, 0, 1)
    marks = truth.landmarks(dataset, subject, clip).astype(np.float64) @ lin.T + video.matrix[:, 2]
    marks = (marks - off).astype(np.float32)
    return flows, marks[position][video.clips]


def nme_percent(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Per-frame NME in percent: mean point distance / true inter-ocular distance; ``(..., 68, 2)`` -> ``(...)``."""
    return 100 * np.linalg.norm(pred - true, axis=-1).mean(-1) / inter_ocular(true)


@torch.no_grad()
def score(model, videos, truths, mean_shape=None) -> dict:
    """Flow EPE and landmark NME of the model's heads (those it has) on held-out videos (centre crops)."""
    model.eval()
    device = next(model.parameters()).device
    sums = {"epe": [0.0, 0.0], "zero": [0.0, 0.0], "tvl1": [0.0, 0.0]}  # (all valid pixels, moving pixels)
    n_pix = n_moving = 0
    marks: dict[str, list[np.ndarray]] = {"nme": [], "dlib": [], "mean_shape": []}
    for video, (true_flow, true_marks) in zip(videos, truths):
        crop = true_flow.shape[-1]
        x, tvl1, dlib = clip_batch([video] * len(video.clips), list(range(len(video.clips))), crop, None)
        out = {k: v.float().cpu() for k, v in model.forward_joint(x.to(device)).items()}
        valid = np.isfinite(true_flow).all(2)  # (n_clips, T - 1, crop, crop)
        moving = valid & (np.linalg.norm(np.nan_to_num(true_flow), axis=2) >= 0.2)
        n_pix += int(valid.sum())
        n_moving += int(moving.sum())
        flows = {"zero": np.zeros_like(true_flow), "tvl1": tvl1.numpy()}
        if "flow" in out:
            flows["epe"] = out["flow"].numpy()
        for name, pred in flows.items():
            err = np.linalg.norm(pred - np.nan_to_num(true_flow), axis=2)
            sums[name][0] += float(err[valid].sum())
            sums[name][1] += float(err[moving].sum())
        truth1 = true_marks[:, 1:]
        if "landmarks" in out:
            marks["nme"].append(nme_percent(out["landmarks"].numpy(), truth1).ravel())
        marks["dlib"].append(nme_percent(dlib.numpy()[:, 1:], truth1).ravel())
        if mean_shape is not None:
            marks["mean_shape"].append(nme_percent(np.broadcast_to(mean_shape, truth1.shape), truth1).ravel())
    result = {"moving_fraction": n_moving / n_pix}
    for name, (total, on_moving) in sums.items():
        if name == "epe" and model.flow_head is None:
            continue
        key = "epe" if name == "epe" else f"epe_{name}"
        result[key], result[f"{key}_moving"] = total / n_pix, on_moving / max(n_moving, 1)
    for name, per_frame in marks.items():
        if per_frame:
            values = np.concatenate(per_frame)
            key = "" if name == "nme" else f"_{name}"
            result[f"nme{key}"] = float(values.mean())
            result[f"failure{key}"] = float((values > 10).mean() * 100)
    return result


#: Loss weights (lambda_ce, lambda_of, lambda_ldm) of the rows of seed 001's Tables XIV and XV.
VARIANTS = {
    "joint": (1.0, 10.0, 0.1),  # MOL
    "no_mer": (0.0, 10.0, 0.1),  # w/o MER
    "no_fld": (1.0, 10.0, 0.0),  # w/o FLD (Table XIV only: no landmark head)
    "no_mer_fld": (0.0, 10.0, 0.0),  # w/o MER & FLD (Table XIV)
    "no_ofe": (1.0, 0.0, 0.1),  # w/o OFE (Table XV only: no flow head)
    "no_mer_ofe": (0.0, 0.0, 0.1),  # w/o MER & OFE (Table XV)
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default="data/synthme_small", help="SynthME tree (preset small)")
    ap.add_argument("--cache", default="", help="feature cache of the 144x144 MOL preparation")
    ap.add_argument("--steps", type=int, default=240)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--frames", type=int, default=4, help="T, frames per clip")
    ap.add_argument("--size", type=int, default=64, help="network input side (crop of the --align faces)")
    ap.add_argument("--max-clips", type=int, default=2)
    ap.add_argument("--lr", type=float, default=1e-3,
                    help="AdamW learning rate (the code's is 1e-4; 1e-3 chosen by --pilot training losses, "
                         "see BENCHMARKS.md)")
    ap.add_argument("--held-out", type=int, default=4, help="subjects held out for scoring (seeded draw)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--align", type=int, choices=(72, 144), default=72,
                    help="side of the aligned faces the crops come from: 72 (halved, CPU scale) or 144 (the "
                         "paper's, for --size 128)")
    ap.add_argument("--device", default="cpu", help="cpu, cuda, ... (training and scoring)")
    ap.add_argument("--variants", default="joint,no_mer", help="comma list of " + ", ".join(VARIANTS))
    ap.add_argument("--pilot", action="store_true",
                    help="train only and print the training losses (no held-out scoring): for choosing --lr "
                         "on the training subjects alone")
    ap.add_argument("--eval-every", type=int, default=0,
                    help="also score the held-out subjects every N steps (a learning curve, recorded only: "
                         "nothing is chosen from it; the final row is always the last step)")
    ap.add_argument("--score-train", action="store_true",
                    help="also score the trained heads on the training videos (seen identities): tells a head "
                         "that did not learn from one that does not carry over to new subjects")
    ap.add_argument("--out", default="runs/mol_aux.json")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)

    root = Path(args.root)
    table = MEGC2019Composite(root, gt_csv=root / "combined_3class_gt.csv", casme2_variant="raw",
                              smic_variant="raw").load()
    t0 = time.perf_counter()
    full = prepare_videos(table, MOLDataConfig(num_frames=8, max_clips=2, flow="tvl1", cache_dir=args.cache))
    prep_s = time.perf_counter() - t0
    tvl1 = create_flow("tvl1")
    t0 = time.perf_counter()
    if args.size > args.align:
        raise SystemExit(f"--size {args.size} does not fit in --align {args.align} faces.")
    videos = {k: rescale(v, args.frames, args.max_clips, tvl1, 144 // args.align) for k, v in full.videos.items()}
    reduce_s = time.perf_counter() - t0
    log.info("prepared %d videos (cache read %.0f s, reduction + TV-L1 %.0f s)", len(videos), prep_s, reduce_s)

    subjects = np.array(sorted(table["subject_key"].unique()))
    held = set(np.random.default_rng(args.seed).permutation(subjects)[: args.held_out].tolist())
    train_idx = np.flatnonzero(~table["subject_key"].isin(held).to_numpy())
    test_idx = np.flatnonzero(table["subject_key"].isin(held).to_numpy())
    keys = table["sample_key"].to_numpy()
    train_videos, test_videos = [videos[k] for k in keys[train_idx]], [videos[k] for k in keys[test_idx]]
    labels = encode_labels(table, train_idx, CLASSES)
    if args.pilot:
        test_videos = []
    truth = SynthTruth(root)
    t0 = time.perf_counter()
    numbers = dict(zip(table["sample_key"], table["frame_numbers"]))
    truths = [aligned_truth(truth, v, numbers[v.key], args.size) for v in test_videos]
    train_truths = ([aligned_truth(truth, v, numbers[v.key], args.size) for v in train_videos]
                    if args.score_train else [])
    log.info("truth for %d held-out videos in %.0f s", len(test_videos), time.perf_counter() - t0)
    off = (videos[keys[0]].frames.shape[-1] - args.size) // 2
    mean_shape = np.concatenate([v.landmarks for v in train_videos]).mean(0) - off  # centre-crop pixels

    train = TrainConfig(lr=args.lr, weight_decay=1e-3, batch_size=args.batch, threads=args.threads, device=args.device,
                        amp=False, progress=False, schedule="fixed", imbalance="weighted_loss", steps=args.steps)
    results = {"settings": vars(args), "held_out_subjects": sorted(held), "n_train_videos": len(train_videos),
               "n_test_videos": len(test_videos), "prepare_s": prep_s, "reduce_s": reduce_s, "variants": {}}
    out = Path(args.out)
    for variant in args.variants.split(","):
        if variant not in VARIANTS:
            raise SystemExit(f"unknown variant {variant!r}; choose from {', '.join(VARIANTS)}.")
        lambda_ce, lambda_of, lambda_ldm = VARIANTS[variant]
        options = MultitaskClipsOptions(lambda_of=lambda_of, lambda_ldm=lambda_ldm, lambda_ce=lambda_ce,
                                        crop_size=args.size, align_size=videos[keys[0]].frames.shape[-1])
        torch.manual_seed(args.seed)
        model = create_model("mol", num_classes=3, **arch_options({"num_frames": args.frames}, options))
        init = score(model, test_videos, truths, mean_shape) if test_videos else {}
        log.info("%s init: %s", variant, init)
        curve: list[dict] = []
        record = results["variants"][variant] = {"init": init, "curve": curve}
        clock = {"start": time.perf_counter(), "scoring": 0.0}

        def observe(step: int, net) -> None:
            if not (args.eval_every and test_videos and step % args.eval_every == 0 and step < args.steps):
                return
            t = time.perf_counter()
            curve.append({"step": step, "train_seconds": t - clock["start"] - clock["scoring"],
                          **score(net, test_videos, truths, mean_shape)})
            clock["scoring"] += time.perf_counter() - t
            log.info("%s step %d: %s", variant, step,
                     {k: round(curve[-1][k], 3) for k in ("epe", "nme", "failure") if k in curve[-1]})
            write_json(out, results)

        history = train_clips(model, train_videos, labels, options, train, seed=args.seed, on_step=observe)
        train_seconds = history.seconds - clock["scoring"]
        after = score(model, test_videos, truths, mean_shape) if test_videos else {}
        if train_truths:
            record["trained_on_training_videos"] = score(model, train_videos, train_truths, mean_shape)
            log.info("%s on its training videos: %s", variant, record["trained_on_training_videos"])
        log.info("%s after %d steps (%.0f s): %s", variant, args.steps, train_seconds, after)
        tail = history.parts[-20:]
        record.update({
            "init": init, "trained": after, "train_seconds": train_seconds,
            "last20_loss": {k: float(np.mean([p[k] for p in tail])) for k in tail[0]},
            "first20_loss": {k: float(np.mean([p[k] for p in history.parts[:20]])) for k in tail[0]},
            "loss_curve": history.parts,
        })
        write_json(out, results)  # after each variant, so a cut-off run keeps what it has
    for variant, res in results["variants"].items():
        curve = res["loss_curve"]
        print(variant, "first 5 steps", {k: round(float(np.mean([p[k] for p in curve[:5]])), 4) for k in curve[0]},
              "last 5 steps", {k: round(float(np.mean([p[k] for p in curve[-5:]])), 4) for k in curve[0]})
        if res["init"]:
            print(json.dumps({k: res[k] for k in ("init", "trained", "train_seconds")}, indent=1))


if __name__ == "__main__":
    main()

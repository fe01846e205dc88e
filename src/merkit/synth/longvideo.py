"""SynthME long-video mode: minutes-long face videos with expressions at known frames, for spotting.

Each video is one synthetic subject filmed for ``n_frames`` frames at ``fps``. On its
timeline the generator places, without overlap and with a gap of ``min_gap_s``:

* ``n_micro`` micro-expressions (a class AU combination, raised-cosine onset-apex-offset,
  ``micro_duration_s``, peak ``micro_peak_px``);
* ``n_macro`` macro-expressions (the same combinations with wider blobs, ``macro_blob_scale``,
  and a peak of ``macro_peak_iod`` x IOD, ``macro_duration_s``);
* ``n_blinks`` blinks (AU45) and ``n_head_moves`` head movements (a smooth translation step
  of ``head_move_px`` and a small roll over ``head_move_duration_s``), the nuisances a spotter
  must not report; plus a slow head sway and illumination drift over the whole video.

Only micro- and macro-expressions are annotated (as in the real datasets); every event,
blinks and head moves included, is listed in ``_groundtruth/events.csv``.

Named presets (:mod:`merkit.synth.long_config`): ``clean`` (the defaults) and ``realistic``,
which adds a slow head drift and roll, blinks right next to micro-expressions, mains-beat and
random flicker, stronger sensor noise and an H.264 stream the frame files are decoded from
(:mod:`merkit.synth.long_nuisance`), with smaller micro-expressions. ``_groundtruth/<subject>/<video>/``
holds ``landmarks.npy``, ``head_pose.csv`` and ``illumination.csv`` per frame.

Frames are rendered as in :mod:`merkit.synth.clip` (the frame-0 image warped by one
forward field per frame, :func:`~merkit.synth.clip.onset_field`), one at a time and
written immediately (or encoded, then decoded and written), so the pixels in memory do
not grow with the video's length.

Layouts (``layout=``; see :mod:`merkit.synth.long_formats`): ``casme_sq``
(``OUT/CASME_sq/``, CAS(ME)^2, 30 fps real) and ``samm_lv`` (``OUT/SAMM_LV/``, SAMM Long
Videos, 200 fps real, greyscale). ``fps`` defaults to the real rate; tests pass a lower one
(the SAMM-LV loader then needs the same ``fps=``).
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from merkit._io import atomic_path, write_bytes, write_json, write_text
from merkit.errors import ConfigError
from merkit.synth import long_formats as lf
from merkit.synth.actions import CLASS_AU_COMBOS, Blob, au_blobs, dense_field, evaluate_blobs, normalise_peak
from merkit.synth.clip import HeadMotion, bump_profile, onset_field, raised_cosine_profile, warp_by_flow
from merkit.synth.config import get_preset
from merkit.synth.generate import _background, _encode, _smooth_path
from merkit.synth.identity import sample_identity
from merkit.synth.long_config import LONG_LAYOUTS, SAMM_SUBJECTS, LongVideoConfig, with_overrides
from merkit.synth.long_nuisance import (
    H264Writer,
    decoded_frames,
    flicker_gain,
    head_drift,
    write_head_pose,
    write_illumination,
)
from merkit.synth.render import place_face, render_face

__all__ = ["LongVideoConfig", "LongVideoManifest", "LONG_LAYOUTS", "generate_long_videos", "with_overrides"]

log = logging.getLogger(__name__)

_EMOTION_WORD = {"casme_sq": {"negative": "disgust", "positive": "happy", "surprise": "surprise"},
                 "samm_lv": {"negative": "Anger", "positive": "Happiness", "surprise": "Surprise"}}


@dataclass(frozen=True)
class LongVideoManifest:
    """What :func:`generate_long_videos` wrote.

    Attributes:
        out_dir: output folder; the dataset root is ``root``.
        config: the parameters.
        seed: generator seed.
        events: one dict per event (all kinds), the rows of ``_groundtruth/events.csv``.
    """

    out_dir: Path
    config: LongVideoConfig
    seed: int
    events: tuple[dict[str, Any], ...]

    @property
    def root(self) -> Path:
        """The dataset root, a long-video loader's ``root=``."""
        return self.out_dir / LONG_LAYOUTS[self.config.layout][0]

    def intervals(self, kinds: tuple[str, ...] = ("micro", "macro")) -> list[dict[str, Any]]:
        """The annotated events (micro and macro by default)."""
        return [e for e in self.events if e["kind"] in kinds]


def _plan_events(cfg: LongVideoConfig, rng: np.random.Generator) -> list[dict[str, Any]]:
    """Non-overlapping events on the timeline, frame numbers 1-based and inclusive.

    A *pair* (``blink_near_micro``) is a micro-expression and a blink placed as one unit, the blink
    before or after it with ``blink_micro_gap_s`` from the earlier offset to the later onset. With no
    pairs the draws are those of the plan before pairs existed, so clean trees are unchanged.
    """
    fps = cfg.rate
    n_pairs = min(int(np.floor(cfg.blink_near_micro * cfg.n_blinks + 0.5)), cfg.n_micro)  # half rounds up
    kinds = (["pair"] * n_pairs + ["micro"] * (cfg.n_micro - n_pairs) + ["macro"] * cfg.n_macro
             + ["blink"] * (cfg.n_blinks - n_pairs) + ["head"] * cfg.n_head_moves)
    ranges = {"micro": cfg.micro_duration_s, "macro": cfg.macro_duration_s, "blink": cfg.blink_duration_s,
              "head": cfg.head_move_duration_s}
    order = [kinds[i] for i in rng.permutation(len(kinds))]
    units: list[list[tuple[str, int, int]]] = []  # per unit: (kind, length, frames from the unit's onset)
    for k in order:
        if k != "pair":
            units.append([(k, max(3, int(round(rng.uniform(*ranges[k]) * fps))), 0)])
            continue
        micro = max(3, int(round(rng.uniform(*ranges["micro"]) * fps)))
        blink = max(3, int(round(rng.uniform(*ranges["blink"]) * fps)))
        gap = max(1, int(round(rng.uniform(*cfg.blink_micro_gap_s) * fps)))
        first, second = (("blink", blink), ("micro", micro)) if rng.random() < 0.5 else (("micro", micro),
                                                                                        ("blink", blink))
        units.append([(*first, 0), (*second, first[1] - 1 + gap)])
    lengths = [u[-1][2] + u[-1][1] for u in units]
    gap = max(2, int(round(cfg.min_gap_s * fps)))
    slack = cfg.n_frames - sum(lengths) - gap * (len(order) + 1)
    if slack < 0:
        raise ConfigError(f"{len(order)} events of {sum(lengths)} frames with {gap}-frame gaps do not fit in "
                          f"n_frames={cfg.n_frames} at {fps:g} fps; raise n_frames or lower the event counts.")
    # Spread the slack randomly between the gaps (a uniform point on the simplex).
    cuts = np.sort(rng.integers(0, slack + 1, len(order)))
    extra = np.diff(np.concatenate([[0], cuts]))
    events, start = [], 1
    for unit, pad in zip(units, extra):
        first_onset = start + gap + int(pad)
        for kind, length, at in unit:
            onset = first_onset + at
            offset = onset + length - 1
            apex = int(round(onset + rng.uniform(0.35, 0.6) * (offset - onset)))
            events.append({"kind": kind, "onset": onset, "apex": apex, "offset": offset})
            start = offset
    return events


def _video_scene(cfg: LongVideoConfig, seed: int, subject: int, video: int) -> dict[str, Any]:
    """Face, background, event fields and profiles, head motion of one video (no frame drawn yet)."""
    source = LONG_LAYOUTS[cfg.layout][1]
    synth = get_preset(cfg.camera_preset)
    cam = synth.sources[source].camera
    rng_subject = np.random.default_rng([seed, 0x5107, subject])
    identity = sample_identity(rng_subject, glasses_rate=synth.glasses_rate, shape_jitter=synth.shape_jitter,
                               expressiveness_sigma=synth.expressiveness_sigma)
    face = render_face(identity, cam.iod_px)
    background = _background(cam, np.random.default_rng([seed, 0x5107, subject, 99]))
    rng = np.random.default_rng([seed, 0x5107, subject, video])
    w, h = cam.frame_size
    iod = face.iod_px
    eye = np.array([w / 2, h / 2 - 0.55 * iod]) + rng.normal(0, 2.0, 2)
    rot = np.eye(2)
    matrix = np.concatenate([rot, (eye - rot @ np.asarray(face.origin_px))[:, None]], 1)
    scene, lm = place_face(face, background, matrix)
    coverage = cv2.warpAffine(face.alpha, matrix, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
    head_weight = np.clip(cv2.GaussianBlur(coverage, (0, 0), 0.3 * iod) * 1.5, 0, 1).astype(np.float32)
    scene = np.clip(cam.brightness * (cam.contrast * (scene - 0.5) + 0.5), 0, 1)
    if cam.blur_sigma > 0:
        scene = cv2.GaussianBlur(scene, (0, 0), cam.blur_sigma)
    if cam.grayscale:
        scene = cv2.cvtColor(scene, cv2.COLOR_RGB2GRAY)

    fps, n = cfg.rate, cfg.n_frames
    numbers = np.arange(1, n + 1)
    times = (numbers - 1) / fps
    events = _plan_events(cfg, rng)
    blobs_per_event: list[tuple[Blob, ...]] = []
    profiles: list[np.ndarray] = []
    shift = np.stack([_smooth_path(rng, times / 20.0, 0.0), _smooth_path(rng, times / 20.0, 0.0)], 1) * cfg.head_sway_px
    angle = np.zeros(n)
    position = np.zeros(2)
    for e in events:
        if e["kind"] == "head":
            # A smooth step to a new head position, kept afterwards; pulled back towards the start
            # so that many moves never walk the face out of the frame.
            direction = rng.uniform(0, 2 * np.pi)
            step = rng.uniform(*cfg.head_move_px) * np.array([np.cos(direction), np.sin(direction)])
            step -= 0.5 * position
            ramp = np.clip((numbers - e["onset"]) / max(e["offset"] - e["onset"], 1), 0, 1)
            ramp = 0.5 - 0.5 * np.cos(np.pi * ramp)
            shift += ramp[:, None] * step
            angle += ramp * rng.normal(0, 1.0)
            position += step
            e.update(label="head", action_units="", peak_px=round(float(np.linalg.norm(step)), 3))
            continue
        if e["kind"] == "blink":
            blobs, used = normalise_peak(au_blobs("45", lm, iod), rng.uniform(0.05, 0.08) * iod)
            profile = bump_profile(times, (e["onset"] - 1) / fps, (e["offset"] - e["onset"] + 1) / fps, peak_at=0.35)
            e.update(label="blink", action_units="45")
        else:
            cls = ("negative", "positive", "surprise")[int(rng.integers(3))]
            names, probs = zip(*CLASS_AU_COMBOS[cls])
            combo = str(names[int(rng.choice(len(names), p=np.asarray(probs) / np.sum(probs)))])
            weights = [float(rng.uniform(0.6, 1.0)) for _ in combo.split("+")]
            raw = au_blobs(combo, lm, iod, None, weights)
            if e["kind"] == "macro":
                raw = [Blob(b.centre, b.vector, b.sigma * cfg.macro_blob_scale) for b in raw]
                peak = rng.uniform(*cfg.macro_peak_iod) * iod
            else:
                peak = rng.uniform(*cfg.micro_peak_px)
            blobs, used = normalise_peak(raw, peak)
            profile = raised_cosine_profile(numbers, e["onset"], e["apex"], e["offset"])
            e.update(label=cls, emotion=_EMOTION_WORD[cfg.layout][cls], action_units=combo)
        e["peak_px"] = round(float(used), 3)
        blobs_per_event.append(tuple(blobs))
        profiles.append(profile)
    centre = tuple(float(v) for v in lm[27:31].mean(0))
    shift = shift - shift[0]
    # The nuisances draw from generators of their own: the clean draws above stay as they were, and
    # switching one nuisance off leaves the others unchanged.
    drift, drift_roll = np.zeros((n, 2)), np.zeros(n)
    if max(cfg.head_drift_px_per_min) > 0 or max(cfg.head_roll_deg_per_min) > 0:
        drift, drift_roll = head_drift(times, cfg.head_drift_px_per_min, cfg.head_roll_deg_per_min,
                                       np.random.default_rng([seed, 0x5107, subject, video, 1]))
        shift, angle = shift + drift, angle + drift_roll
    flicker = np.ones(n)
    if cfg.flicker > 0 or cfg.flicker_random > 0:
        flicker = flicker_gain(times, cfg.flicker, cfg.flicker_hz, cfg.flicker_random,
                               np.random.default_rng([seed, 0x5107, subject, video, 2]))
    head = HeadMotion(centre=centre, shift=shift, angle_deg=angle, scale=np.ones(n))
    return {"reference": (scene * 255.0).astype(np.float32), "landmarks": lm, "blobs": blobs_per_event,
            "profiles": profiles, "head": head, "head_weight": head_weight, "events": events, "camera": cam,
            "rng": rng, "times": times, "drift": drift, "drift_roll": drift_roll, "flicker": flicker}


def _rendered(scene: dict[str, Any], cfg: LongVideoConfig, lms: np.ndarray, gain: np.ndarray) -> Iterator[np.ndarray]:
    """The filmed frames, uint8, one at a time; fills ``lms`` (T, 68, 2) and ``gain`` (T,) (the slow drift)."""
    ref, cam, rng = scene["reference"], scene["camera"], scene["rng"]
    h, w = ref.shape[:2]
    fields = [dense_field(b, (h, w)) for b in scene["blobs"]]
    at_lm = [evaluate_blobs(b, scene["landmarks"]) for b in scene["blobs"]]
    head, weight, flicker = scene["head"], scene["head_weight"], scene["flicker"]
    gain[:] = 1 + rng.normal(0, cam.illumination_drift) * _smooth_path(rng, scene["times"] / 30.0, 0.0)
    noise_sigma = cam.noise_sigma if cfg.noise_sigma is None else cfg.noise_sigma
    shot_noise = cam.shot_noise if cfg.shot_noise is None else cfg.shot_noise
    flickers = cfg.flicker > 0 or cfg.flicker_random > 0
    for t in range(cfg.n_frames):
        flow = onset_field(fields, scene["profiles"], head, weight, t)
        clean = ref if not flow.any() else warp_by_flow(ref, flow)
        pts = scene["landmarks"] + sum((r[t] * a for r, a in zip(scene["profiles"], at_lm)), np.zeros((68, 2)))
        m = head.matrix(t)
        lms[t] = pts @ m[:, :2].T + m[:, 2]
        lit = clean * np.float32(gain[t] * flicker[t] if flickers else gain[t])
        sigma = np.sqrt(np.float32(noise_sigma**2) + np.float32(shot_noise) * np.maximum(lit, 0))
        lit = lit + sigma * rng.standard_normal(lit.shape, dtype=np.float32)
        yield np.clip(lit, 0, 255).round().astype(np.uint8)


def _film(scene: dict[str, Any], cfg: LongVideoConfig, frame_path: Callable[[int], Path],
          video_path: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Render and write every frame (and the video file).

    Without ``video_codec`` each filmed frame goes to its image file (and, with ``video_path``, to a
    Motion-JPEG ``.avi``). With ``'h264'`` the frames are encoded to ``video_path`` (an mp4), then the
    stream is decoded and the decoded frames go to the image files.

    Returns:
        ``(landmarks, gain)``: (T, 68, 2) float32 landmarks per frame and (T,) float64 slow-drift gain.
    """
    cam = scene["camera"]
    h, w = scene["reference"].shape[:2]
    lms = np.zeros((cfg.n_frames, 68, 2), np.float32)
    gain = np.ones(cfg.n_frames)
    frames = _rendered(scene, cfg, lms, gain)
    if cfg.video_codec == "h264":
        with atomic_path(video_path, suffix=".mp4") as tmp:
            encoder = H264Writer(tmp, (w, h), cfg.rate, grayscale=cam.grayscale,
                                 bits_per_pixel=cfg.video_bits_per_pixel, gop_s=cfg.video_gop_s,
                                 preset=cfg.video_preset)
            for frame in frames:
                encoder.write(frame)
            encoder.close()
            for t, frame in enumerate(decoded_frames(tmp, cfg.n_frames, grayscale=cam.grayscale)):
                write_bytes(frame_path(t + 1), _encode(frame, cam))
        return lms, gain
    writer = None
    if video_path is not None:
        video_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = video_path.with_name(f".{video_path.name}.tmp.avi")
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"MJPG"), cfg.rate, (w, h))
    for t, frame in enumerate(frames):
        write_bytes(frame_path(t + 1), _encode(frame, cam))
        if writer is not None:
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR) if frame.ndim == 3 else
                         cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR))
    if writer is not None:
        writer.release()
        os.replace(tmp, video_path)  # atomic: a reader never sees half a video
    return lms, gain


def generate_long_videos(out_dir: str | os.PathLike, config: LongVideoConfig | None = None, seed: int = 0,
                         *, overwrite: bool = False) -> LongVideoManifest:
    """Write a SynthME long-video set in the CAS(ME)^2 or SAMM-LV layout (module docstring).

    Args:
        out_dir: output folder; the dataset goes to ``out_dir/CASME_sq`` or ``out_dir/SAMM_LV`` and the
            ground truth to ``out_dir/_groundtruth``. Must be empty unless ``overwrite`` (then only a
            previous long-video output, recognised by ``long_manifest.json``, is replaced).
        config: parameters (default :class:`LongVideoConfig`).
        seed: generator seed; the same seed and config give identical files.
        overwrite: replace a previous SynthME long-video output.

    Returns:
        :class:`LongVideoManifest`.

    Raises:
        ConfigError: bad parameters, events that do not fit, or a non-empty ``out_dir``.
    """
    cfg = config or LongVideoConfig()
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        if not (overwrite and (out / "long_manifest.json").is_file()):
            raise ConfigError(f"output folder {str(out)!r} is not empty; pass overwrite=True to replace an earlier "
                              f"SynthME long-video output, or choose an empty folder.")
        for name in (LONG_LAYOUTS[cfg.layout][0], "_groundtruth"):
            shutil.rmtree(out / name, ignore_errors=True)
    root = out / LONG_LAYOUTS[cfg.layout][0]
    all_events, sheet_rows = [], []
    for s in range(cfg.n_subjects):
        for v in range(cfg.videos_per_subject):
            scene = _video_scene(cfg, int(seed), s, v)
            if cfg.layout == "casme_sq":
                code, name_code, suffix = lf.CASME_SQ_VIDEOS[v]
                folder = lf.CASME_SQ_SUBJECT_FOLDERS[s]
                video_dir = lf.casme_sq_video_folder(folder, code, suffix)
                subject, video = f"s{folder}", video_dir
                path_of = lambda k, f=folder, d=video_dir: lf.casme_sq_frame_path(root, f, d, k)  # noqa: E731
                if cfg.video_codec == "h264":  # the stream the frames come from is the layout's raw video
                    video_file = root / "rawvideo" / subject / f"{video_dir}.mp4"
                else:
                    video_file = root / "rawvideo" / subject / f"{video_dir}.avi" if cfg.rawvideo else None
            else:
                subject = SAMM_SUBJECTS[s]
                video = f"{subject}_{v + 1}"
                path_of = lambda k, vid=video: lf.samm_lv_frame_path(root, vid, k)  # noqa: E731
                # SAMM-LV ships no videos: the stream is kept with the ground truth
                video_file = out / "_groundtruth" / subject / video / "video.mp4" if cfg.video_codec else None
            landmarks, drift_gain = _film(scene, cfg, path_of, video_file)
            truth = out / "_groundtruth" / subject / video
            with atomic_path(truth / "landmarks.npy") as tmp:
                np.save(tmp, landmarks)
            head = scene["head"]
            write_head_pose(truth / "head_pose.csv", head.shift, head.angle_deg, scene["drift"], scene["drift_roll"],
                            head.centre)
            write_illumination(truth / "illumination.csv", drift_gain, scene["flicker"])
            counter = 0
            for e in scene["events"]:
                all_events.append({"subject": subject, "video": video, "fps": cfg.rate, **e})
                if e["kind"] in ("micro", "macro"):
                    counter += 1
                    sheet_rows.append({**e, "subject_index": s + 1, "name_code": lf.CASME_SQ_VIDEOS[v][1]
                                       if cfg.layout == "casme_sq" else "", "counter": counter, "subject": subject,
                                       "video": video, "inducement": v + 1, "notes": None,
                                       "emotion": e.get("emotion", "")})
    if cfg.layout == "casme_sq":
        lf.write_casme_sq_sheet(root / lf.CASME_SQ_SHEET, sheet_rows, list(range(1, cfg.n_subjects + 1)))
    else:
        lf.write_samm_lv_sheet(root / lf.SAMM_LV_SHEET, sheet_rows)
    columns = ["subject", "video", "kind", "onset", "apex", "offset", "label", "action_units", "peak_px", "fps"]
    lines = [",".join(columns)] + [",".join(str(e.get(c, "")) for c in columns) for e in all_events]
    write_text(out / "_groundtruth" / "events.csv", "\n".join(lines) + "\n")
    write_json(out / "long_manifest.json", {"generator": "merkit.synth.longvideo", "seed": int(seed),
                                            "config": cfg.to_dict(), "fps": cfg.rate, "root": root.name,
                                            "n_events": len(all_events)})
    log.info("SynthME long videos (%s): %d videos, %d events -> %s", cfg.layout,
             cfg.n_subjects * cfg.videos_per_subject, len(all_events), root)
    return LongVideoManifest(out, cfg, int(seed), tuple(all_events))

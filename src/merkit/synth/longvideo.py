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

Frames are rendered as in :mod:`merkit.synth.clip` (the frame-0 image warped by one
forward field per frame, :func:`~merkit.synth.clip.onset_field`), one at a time and
written immediately, so memory does not grow with the video's length.

Layouts (``layout=``; see :mod:`merkit.synth.long_formats`): ``casme_sq``
(``OUT/CASME_sq/``, CAS(ME)^2, 30 fps real) and ``samm_lv`` (``OUT/SAMM_LV/``, SAMM Long
Videos, 200 fps real, greyscale). ``fps`` defaults to the real rate; tests pass a lower one
(the SAMM-LV loader then needs the same ``fps=``).
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import asdict, dataclass, replace
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
from merkit.synth.render import place_face, render_face

__all__ = ["LongVideoConfig", "LongVideoManifest", "LONG_LAYOUTS", "generate_long_videos"]

log = logging.getLogger(__name__)

#: layout -> (output folder, camera source of the ``small`` preset, real fps).
LONG_LAYOUTS: dict[str, tuple[str, str, float]] = {"casme_sq": ("CASME_sq", "casme2", 30.0),
                                                   "samm_lv": ("SAMM_LV", "samm", 200.0)}
_EMOTION_WORD = {"casme_sq": {"negative": "disgust", "positive": "happy", "surprise": "surprise"},
                 "samm_lv": {"negative": "Anger", "positive": "Happiness", "surprise": "Surprise"}}
_SAMM_SUBJECTS = ("006", "007", "009", "010", "011", "012", "013", "014", "015", "016", "017", "018", "019", "020")


@dataclass(frozen=True)
class LongVideoConfig:
    """Parameters of a SynthME long-video set (times in seconds, displacements in pixels).

    Attributes:
        layout: ``'casme_sq'`` or ``'samm_lv'``.
        n_subjects: subjects (one identity each).
        videos_per_subject: long videos per subject.
        n_frames: frames per video (length = n_frames / fps).
        fps: frame rate used for timing and written to the manifest; None = the dataset's real rate.
        camera_preset: SynthME preset whose camera (frame size, IOD, noise) is used.
        n_micro, n_macro, n_blinks, n_head_moves: events per video.
        micro_duration_s, macro_duration_s: onset-to-offset duration ranges.
        micro_peak_px: peak displacement range of micro-expressions.
        macro_peak_iod: peak of macro-expressions as a fraction of the IOD (before the fold-free cap).
        macro_blob_scale: width factor of macro-expression blobs (see :mod:`merkit.synth.macro`).
        blink_duration_s: blink duration range.
        head_move_px: translation range of one head movement.
        head_move_duration_s: duration range of one head movement.
        head_sway_px: RMS of the slow head sway over the whole video.
        min_gap_s: least time between two events, and before the first / after the last.
        rawvideo: ``casme_sq`` only: also write each video as ``rawvideo/s15/<video>.avi``
            (Motion-JPEG, the layout's raw videos).
    """

    layout: str = "casme_sq"
    n_subjects: int = 2
    videos_per_subject: int = 1
    n_frames: int = 1800
    fps: float | None = None
    camera_preset: str = "small"
    n_micro: int = 4
    n_macro: int = 2
    n_blinks: int = 3
    n_head_moves: int = 2
    micro_duration_s: tuple[float, float] = (0.25, 0.45)
    macro_duration_s: tuple[float, float] = (0.8, 1.6)
    micro_peak_px: tuple[float, float] = (1.2, 2.5)
    macro_peak_iod: tuple[float, float] = (0.12, 0.2)
    macro_blob_scale: float = 2.5
    blink_duration_s: tuple[float, float] = (0.15, 0.3)
    head_move_px: tuple[float, float] = (3.0, 7.0)
    head_move_duration_s: tuple[float, float] = (0.3, 0.6)
    head_sway_px: float = 0.6
    min_gap_s: float = 0.4
    rawvideo: bool = False

    def __post_init__(self) -> None:
        if self.layout not in LONG_LAYOUTS:
            raise ConfigError(f"LongVideoConfig.layout must be one of {sorted(LONG_LAYOUTS)!r}; got {self.layout!r}.")
        for name in ("n_subjects", "videos_per_subject", "n_frames"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(f"LongVideoConfig.{name} must be a positive integer; got {getattr(self, name)!r}.")
        if self.layout == "casme_sq" and (self.n_subjects > 22 or self.videos_per_subject > 9):
            raise ConfigError("the casme_sq layout has 22 subject folders and 9 stimulus videos; got "
                              f"n_subjects={self.n_subjects}, videos_per_subject={self.videos_per_subject}.")
        if self.layout == "samm_lv" and self.n_subjects > len(_SAMM_SUBJECTS):
            raise ConfigError(f"the samm_lv layout has at most {len(_SAMM_SUBJECTS)} subjects; got {self.n_subjects}.")
        if self.rawvideo and self.layout != "casme_sq":
            raise ConfigError("LongVideoConfig.rawvideo is for the casme_sq layout (CAS(ME)^2 ships rawvideo/); "
                              f"got layout={self.layout!r}.")
        if self.fps is not None and self.fps <= 0:
            raise ConfigError(f"LongVideoConfig.fps must be positive; got {self.fps!r}.")

    @property
    def rate(self) -> float:
        """Frame rate in use (``fps`` or the layout's real rate)."""
        return float(self.fps if self.fps is not None else LONG_LAYOUTS[self.layout][2])


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
    """Non-overlapping events on the timeline, frame numbers 1-based and inclusive."""
    fps = cfg.rate
    kinds = ["micro"] * cfg.n_micro + ["macro"] * cfg.n_macro + ["blink"] * cfg.n_blinks + ["head"] * cfg.n_head_moves
    ranges = {"micro": cfg.micro_duration_s, "macro": cfg.macro_duration_s, "blink": cfg.blink_duration_s,
              "head": cfg.head_move_duration_s}
    order = [kinds[i] for i in rng.permutation(len(kinds))]
    lengths = [max(3, int(round(rng.uniform(*ranges[k]) * fps))) for k in order]
    gap = max(2, int(round(cfg.min_gap_s * fps)))
    slack = cfg.n_frames - sum(lengths) - gap * (len(order) + 1)
    if slack < 0:
        raise ConfigError(f"{len(order)} events of {sum(lengths)} frames with {gap}-frame gaps do not fit in "
                          f"n_frames={cfg.n_frames} at {fps:g} fps; raise n_frames or lower the event counts.")
    # Spread the slack randomly between the gaps (a uniform point on the simplex).
    cuts = np.sort(rng.integers(0, slack + 1, len(order)))
    extra = np.diff(np.concatenate([[0], cuts]))
    events, start = [], 1
    for kind, length, pad in zip(order, lengths, extra):
        onset = start + gap + int(pad)
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
    head = HeadMotion(centre=centre, shift=shift - shift[0], angle_deg=angle, scale=np.ones(n))
    return {"reference": (scene * 255.0).astype(np.float32), "landmarks": lm, "blobs": blobs_per_event,
            "profiles": profiles, "head": head, "head_weight": head_weight, "events": events, "camera": cam,
            "rng": rng, "times": times}


def _film(scene: dict[str, Any], cfg: LongVideoConfig, frame_path, video_path: Path | None = None) -> np.ndarray:
    """Render and write every frame (and the video file); returns the (T, 68, 2) float32 landmarks per frame."""
    ref, cam, rng = scene["reference"], scene["camera"], scene["rng"]
    h, w = ref.shape[:2]
    fields = [dense_field(b, (h, w)) for b in scene["blobs"]]
    at_lm = [evaluate_blobs(b, scene["landmarks"]) for b in scene["blobs"]]
    head, weight = scene["head"], scene["head_weight"]
    drift = 1 + rng.normal(0, cam.illumination_drift) * _smooth_path(rng, scene["times"] / 30.0, 0.0)
    lms = np.zeros((cfg.n_frames, 68, 2), np.float32)
    writer = None
    if video_path is not None:
        video_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = video_path.with_name(f".{video_path.name}.tmp.avi")
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"MJPG"), cfg.rate, (w, h))
    for t in range(cfg.n_frames):
        flow = onset_field(fields, scene["profiles"], head, weight, t)
        clean = ref if not flow.any() else warp_by_flow(ref, flow)
        pts = scene["landmarks"] + sum((r[t] * a for r, a in zip(scene["profiles"], at_lm)), np.zeros((68, 2)))
        m = head.matrix(t)
        lms[t] = pts @ m[:, :2].T + m[:, 2]
        lit = clean * np.float32(drift[t])
        sigma = np.sqrt(np.float32(cam.noise_sigma**2) + np.float32(cam.shot_noise) * np.maximum(lit, 0))
        lit = lit + sigma * rng.standard_normal(lit.shape, dtype=np.float32)
        frame = np.clip(lit, 0, 255).round().astype(np.uint8)
        write_bytes(frame_path(t + 1), _encode(frame, cam))
        if writer is not None:
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR) if frame.ndim == 3 else
                         cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR))
    if writer is not None:
        writer.release()
        os.replace(tmp, video_path)  # atomic: a reader never sees half a video
    return lms


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
                video_file = root / "rawvideo" / subject / f"{video_dir}.avi" if cfg.rawvideo else None
            else:
                subject = _SAMM_SUBJECTS[s]
                video = f"{subject}_{v + 1}"
                path_of = lambda k, vid=video: lf.samm_lv_frame_path(root, vid, k)  # noqa: E731
                video_file = None
            landmarks = _film(scene, cfg, path_of, video_file)
            with atomic_path(out / "_groundtruth" / subject / video / "landmarks.npy") as tmp:
                np.save(tmp, landmarks)
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
                                            "config": asdict(cfg), "fps": cfg.rate, "root": root.name,
                                            "n_events": len(all_events)})
    log.info("SynthME long videos (%s): %d videos, %d events -> %s", cfg.layout,
             cfg.n_subjects * cfg.videos_per_subject, len(all_events), root)
    return LongVideoManifest(out, cfg, int(seed), tuple(all_events))


def with_overrides(config: LongVideoConfig, **overrides: Any) -> LongVideoConfig:
    """``config`` with fields replaced; unknown names are a :class:`ConfigError` listing the valid ones."""
    valid = set(LongVideoConfig.__dataclass_fields__)
    unknown = sorted(set(overrides) - valid)
    if unknown:
        raise ConfigError(f"unknown LongVideoConfig field(s) {unknown!r}; valid: {sorted(valid)!r}.")
    return replace(config, **overrides)

"""SynthME generation: plan, render each subject's clips, write the dataset trees.

Output layout under ``out_dir`` (docs/datasets.md, "CASME II", "SAMM", "SMIC" and "MEGC2019 composite (megc2019_cde)")::

    CASME2/CASME2-coding-20140508.xlsx
    CASME2/CASME2_RAW_selected/sub01/EP02_01f/img46.jpg
    SAMM/SAMM_Micro_FACS_Codes_v2.xlsx
    SAMM/SAMM/006/006_1_2/006_05562.jpg                      (greyscale)
    SMIC/SMIC_all_raw/HS/s1/micro/negative/s1_ne_01/image036230.bmp
    combined_3class_gt.csv                                   (MEGC2019 style)
    _groundtruth/                                            (never read by loaders)
        clips.csv
        <dataset>/<subject>/<clip>/clip.json, flow_onset_apex.npy, landmarks.npy,
                                   onset_clean.png, apex_clean.png
    manifest.json

Same seed and parameters give byte-identical files, whatever ``workers`` is.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from merkit._io import atomic_path, write_bytes, write_json, write_text
from merkit._parallel import parallel_map
from merkit.errors import ConfigError
from merkit.synth import formats
from merkit.synth._plan import ClipPlan, SubjectPlan, plan_dataset
from merkit.synth.actions import amplify, au_blobs, normalise_peak
from merkit.synth.appearance import appearance_map
from merkit.synth.clip import (
    ClipFrames,
    Component,
    HeadMotion,
    Illumination,
    bump_profile,
    raised_cosine_profile,
    render_clip,
)
from merkit.synth.config import CameraConfig, SynthConfig, get_preset
from merkit.synth.identity import Identity
from merkit.synth.render import FaceImage, place_face, render_face

__all__ = ["SynthManifest", "generate", "GENERATOR_VERSION", "GROUNDTRUTH_DIR", "DATASET_DIRS"]

log = logging.getLogger(__name__)

#: Bumped whenever the same seed would produce different bytes.
GENERATOR_VERSION = "1.0"
GROUNDTRUTH_DIR = "_groundtruth"
#: Top-level folder of each source in the output tree.
DATASET_DIRS: dict[str, str] = {"casme2": "CASME2", "samm": "SAMM", "smic_hs": "SMIC"}
_MEGC_NAME = {"casme2": "casme2", "samm": "samm", "smic_hs": "smic"}


@dataclass(frozen=True)
class SynthManifest:
    """What :func:`generate` wrote.

    Attributes:
        out_dir: the output folder.
        preset: preset name.
        seed: the dataset seed.
        config: the resolved :class:`SynthConfig`.
        clips: one dict per clip (the rows of ``_groundtruth/clips.csv``), in sheet order.
    """

    out_dir: Path
    preset: str
    seed: int
    config: SynthConfig
    clips: tuple[dict[str, Any], ...]

    @property
    def n_clips(self) -> int:
        return len(self.clips)

    def root(self, source: str) -> Path:
        """Dataset root for ``source`` (``casme2``, ``samm``, ``smic_hs``), as a loader's ``root=``."""
        return self.out_dir / DATASET_DIRS[source]


def _smooth_path(rng: np.random.Generator, times: np.ndarray, onset_t: float) -> np.ndarray:
    """A smooth random 1-D trajectory, 0 at onset, RMS 1 over the clip (drift plus slow sways)."""
    x = rng.normal() * (times - onset_t)
    for _ in range(3):
        f = rng.uniform(0.5, 6.0)
        x = x + rng.normal() * np.sin(2 * np.pi * f * times + rng.uniform(0, 2 * np.pi))
    x = x - np.interp(onset_t, times, x)
    rms = np.sqrt(np.mean(x**2))
    return x / rms if rms > 1e-9 else x


def _background(cam: CameraConfig, rng: np.random.Generator) -> np.ndarray:
    w, h = cam.frame_size
    bg = np.ones((h, w, 3), np.float32) * np.asarray(cam.background_rgb, np.float32)
    ramp = np.linspace(-0.06, 0.06, w, dtype=np.float32)[None, :, None]
    tex = cv2.GaussianBlur(rng.normal(0, 0.03, (h, w)).astype(np.float32), (0, 0), 6.0)[..., None]
    return np.clip(bg * (1 + ramp + tex), 0, 1)


@dataclass(frozen=True)
class ClipScene:
    """Everything :func:`~merkit.synth.clip.render_clip` films, before any frame is drawn.

    Attributes:
        reference: (H, W[, 3]) float32 noise-free onset image, grey levels 0..255.
        landmarks: (68, 2) onset landmarks, frame pixels.
        components: the class-AU component first, then the optional blink and habit.
        head: rigid head motion relative to the onset.
        light: per-frame illumination.
        head_weight: (H, W) float32 in [0, 1], how much each pixel follows the head.
        onset_index, apex_index: 0-based positions of onset and true apex among the frames.
        rng: the clip's generator, advanced past every draw above (the sensor noise comes next).
        info: the geometry entries of the ground-truth ``clip.json``.
        appearance: (H, W) float32 appearance map of the class AUs (``appearance_contrast > 0``), or None.
    """

    reference: np.ndarray
    landmarks: np.ndarray
    components: list[Component]
    head: HeadMotion
    light: Illumination
    head_weight: np.ndarray
    onset_index: int
    apex_index: int
    rng: np.random.Generator
    info: dict[str, Any]
    appearance: np.ndarray | None = None


def _render_clip(plan: ClipPlan, face: FaceImage, identity: Identity, cam: CameraConfig, cfg: SynthConfig,
                 background: np.ndarray) -> tuple[ClipFrames, dict[str, Any]]:
    scene = clip_scene(plan, face, identity, cam, background)
    result = render_clip(scene.reference, scene.landmarks, scene.components, scene.head, scene.light,
                         onset_index=scene.onset_index, apex_index=scene.apex_index,
                         noise_sigma=cam.noise_sigma, shot_noise=cam.shot_noise, rng=scene.rng,
                         head_weight=scene.head_weight, iterations=cfg.warp_iterations,
                         appearance=scene.appearance)
    return result, scene.info


def clip_scene(plan: ClipPlan, face: FaceImage, identity: Identity, cam: CameraConfig,
               background: np.ndarray) -> ClipScene:
    """Place the face and draw every motion and lighting parameter of one planned clip.

    The single source of a clip's geometry: :func:`generate` films it, and
    :mod:`merkit.synth.truth` rebuilds the true motion between any two frames from it.
    """
    rng = np.random.default_rng([*plan.seed, 7])
    w, h = cam.frame_size
    iod = face.iod_px * (1 + rng.uniform(-cam.iod_jitter, cam.iod_jitter))
    scale = iod / face.iod_px
    angle = np.deg2rad(rng.normal(0, 2.0))
    eye = np.array([w / 2, h / 2 - 0.55 * iod]) + rng.normal(0, cam.placement_px, 2)
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    origin = np.asarray(face.origin_px)
    matrix = np.concatenate([rot, (eye - rot @ origin)[:, None]], 1)
    scene, lm = place_face(face, background, matrix)
    coverage = cv2.warpAffine(face.alpha, matrix, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
    head_weight = np.clip(cv2.GaussianBlur(coverage, (0, 0), 0.3 * iod) * 1.5, 0, 1)
    scene = np.clip(cam.brightness * (cam.contrast * (scene - 0.5) + 0.5), 0, 1)
    if cam.blur_sigma > 0:
        scene = cv2.GaussianBlur(scene, (0, 0), cam.blur_sigma)
    if cam.grayscale:
        scene = cv2.cvtColor(scene, cv2.COLOR_RGB2GRAY)
    reference = (scene * 255.0).astype(np.float32)
    unit_rot = rot / scale

    fn = np.asarray(plan.frame_numbers)
    times = (fn - plan.onset) / plan.fps
    onset_i, apex_i = int(np.searchsorted(fn, plan.onset)), int(np.searchsorted(fn, plan.apex))
    # Class AUs, normalised so the summed field peaks at plan.peak_px (measured at the blob centres).
    blobs, peak_used = normalise_peak(au_blobs(plan.combo, lm, iod, unit_rot, plan.au_weights), plan.peak_px)
    extra: dict[str, Any] = {}
    if plan.amplitude_scale != 1.0:  # the amplitude ladder; skipped entirely at the default
        extra["au_peak_unscaled_px"] = peak_used
        extra["amplitude_scale"] = plan.amplitude_scale
        blobs, peak_used = amplify(blobs, plan.amplitude_scale)
    appearance = None
    if plan.appearance:
        appearance = appearance_map(plan.combo, plan.appearance, lm, iod, (h, w), unit_rot)
        extra["appearance"] = list(plan.appearance)
    components = [Component("au", tuple(blobs), raised_cosine_profile(fn, plan.onset, plan.apex, plan.offset))]
    if plan.blink is not None:
        start, dur, amp = plan.blink
        bb, _ = normalise_peak(au_blobs("45", lm, iod, unit_rot), amp * iod)
        components.append(Component("blink", tuple(bb), bump_profile(times, start, dur, peak_at=0.35)))
    if plan.habit is not None:
        start, dur, amp = plan.habit
        hb, _ = normalise_peak(au_blobs(identity.habit_aus, lm, iod, unit_rot), amp)
        components.append(Component("habit", tuple(hb), bump_profile(times, start, dur, peak_at=0.5)))

    sway = identity.sway_px
    centre = tuple(float(v) for v in lm[27:31].mean(0))
    shift = np.stack([_smooth_path(rng, times, 0.0), _smooth_path(rng, times, 0.0)], 1)
    shift *= cam.head_shift_px * sway * np.abs(rng.normal(1.0, 0.3, 2))
    head = HeadMotion(centre=centre, shift=shift,
                      angle_deg=_smooth_path(rng, times, 0.0) * cam.head_rotation_deg * sway,
                      scale=1 + _smooth_path(rng, times, 0.0) * cam.head_scale * sway)
    ramp = (times - times[0]) / max(times[-1] - times[0], 1e-9)
    ramp = ramp - ramp[onset_i]
    flicker = cam.flicker * np.sin(2 * np.pi * cam.flicker_hz * times + rng.uniform(0, 2 * np.pi))
    light = Illumination(gain=1 + rng.normal(0, cam.illumination_drift) * ramp + flicker,
                         grad_x=rng.normal(0, cam.illumination_gradient) * (1 + ramp),
                         grad_y=rng.normal(0, cam.illumination_gradient) * (1 + ramp))
    info = {
        "iod_px": float(iod),
        "au_peak_used_px": peak_used,
        "face_angle_deg": float(np.rad2deg(angle)),
        "au_blobs": [b.to_list() for b in components[0].blobs],
        "blink_blobs": [b.to_list() for c in components if c.name == "blink" for b in c.blobs],
        "habit_blobs": [b.to_list() for c in components if c.name == "habit" for b in c.blobs],
        "head_shift_px": shift.round(4).tolist(),
        "head_angle_deg": head.angle_deg.round(5).tolist(),
        "head_scale": head.scale.round(6).tolist(),
        "gain": light.gain.round(5).tolist(),
        **extra,
    }
    return ClipScene(reference=reference, landmarks=lm, components=components, head=head, light=light,
                     head_weight=head_weight, onset_index=onset_i, apex_index=apex_i, rng=rng, info=info,
                     appearance=appearance)


def _encode(image: np.ndarray, cam: CameraConfig) -> bytes:
    bgr = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    if cam.image_format == "jpg":
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(cam.jpeg_quality)])
    else:
        ok, buf = cv2.imencode(".bmp", bgr)
    if not ok:
        raise ConfigError(f"OpenCV could not encode a {cam.image_format!r} frame of shape {image.shape}.")
    return buf.tobytes()


def _encode_png(image: np.ndarray) -> bytes:
    bgr = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    return buf.tobytes()


def _frame_path(out: Path, plan: ClipPlan, number: int) -> Path:
    root = out / DATASET_DIRS[plan.source]
    if plan.source == "casme2":
        return formats.casme2_frame_path(root, plan.subject, plan.clip, number)
    if plan.source == "samm":
        return formats.samm_frame_path(root, plan.subject, plan.clip, number)
    return formats.smic_frame_path(root, plan.subject, plan.emotion, plan.clip, number)


def _save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        np.save(tmp, array)


def subject_stage(subject: SubjectPlan, cfg: SynthConfig) -> tuple[FaceImage, np.ndarray]:
    """The subject's upright face and the camera's background, shared by all its clips."""
    cam = cfg.sources[subject.source].camera
    face = render_face(subject.identity, cam.iod_px)
    background = _background(cam, np.random.default_rng([subject.seed[0], subject.seed[1], 99]))
    return face, background


def _render_subject(job: tuple[SubjectPlan, SynthConfig, str]) -> list[dict[str, Any]]:
    subject, cfg, out_dir = job
    out = Path(out_dir)
    cam = cfg.sources[subject.source].camera
    face, background = subject_stage(subject, cfg)
    rows = []
    for plan in subject.clips:
        result, info = _render_clip(plan, face, subject.identity, cam, cfg, background)
        for number, frame in zip(plan.frame_numbers, result.frames):
            write_bytes(_frame_path(out, plan, number), _encode(frame, cam))
        gt = out / GROUNDTRUTH_DIR / plan.source / plan.subject / plan.clip
        _save_npy(gt / "flow_onset_apex.npy", result.flow_onset_apex)
        _save_npy(gt / "landmarks.npy", result.landmarks)
        write_bytes(gt / "onset_clean.png", _encode_png(result.onset_clean))
        write_bytes(gt / "apex_clean.png", _encode_png(result.apex_clean))
        au_peak = float(np.linalg.norm(result.au_flow_onset_apex, axis=2).max())
        record = {
            "dataset": plan.source, "subject": plan.subject, "clip": plan.clip, "class": plan.cls,
            "emotion": plan.emotion, "action_units": plan.combo, "onset": plan.onset, "apex": plan.apex,
            "annotated_apex": plan.annotated_apex, "offset": plan.offset, "fps": plan.fps,
            "first_frame": plan.frame_numbers[0], "last_frame": plan.frame_numbers[-1],
            "au_peak_px": round(au_peak, 4), "blink": plan.blink is not None, "habit": plan.habit is not None,
            "habit_aus": subject.identity.habit_aus if plan.habit is not None else "",
        }
        clip_json = {**record, "frame_numbers": list(plan.frame_numbers), "au_weights": list(plan.au_weights),
                     "planned_peak_px": plan.peak_px, "blink_event": plan.blink, "habit_event": plan.habit,
                     "flow_convention": "forward, onset grid: onset pixel x moves to x + flow(x) at the apex",
                     **info}
        write_json(gt / "clip.json", clip_json)
        rows.append({**record, "inducement": plan.inducement, "objective_class": plan.objective_class})
    log.info("rendered %s/%s: %d clips", subject.source, subject.subject, len(subject.clips))
    return rows


def generate(
    out_dir: str | os.PathLike,
    preset: str | SynthConfig = "small",
    seed: int = 0,
    *,
    workers: int = 1,
    overwrite: bool = False,
    **overrides: Any,
) -> SynthManifest:
    """Generate a SynthME dataset.

    Args:
        out_dir: output folder; must be empty or absent unless ``overwrite``.
        preset: ``'tiny'``, ``'small'``, ``'full'`` or a :class:`SynthConfig`.
        seed: dataset seed; the same seed and parameters give byte-identical files.
        workers: processes rendering subjects in parallel (results do not depend on it).
        overwrite: replace a previous SynthME output in ``out_dir`` (recognised by its
            ``manifest.json``); other folders are never deleted.
        **overrides: parameter overrides, see :meth:`SynthConfig.replace` (dotted keys reach
            per-source and camera fields: ``{"samm.camera.noise_sigma": 0.0}``).

    Returns:
        :class:`SynthManifest` describing what was written.

    Raises:
        ConfigError: bad parameters, or ``out_dir`` holds other files.
        UnknownNameError: unknown preset name.
    """
    cfg = get_preset(preset) if isinstance(preset, str) else preset
    if overrides:
        cfg = cfg.replace(**overrides)
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer; got {seed!r}.")
    if workers < 1:
        raise ConfigError(f"workers must be >= 1; got {workers!r}.")
    out = Path(out_dir)
    _prepare_out_dir(out, overwrite)
    plans = plan_dataset(cfg, int(seed))
    jobs = [(p, cfg, str(out)) for p in plans]
    log.info("SynthME %s seed %d: %d subjects, %d clips -> %s", cfg.name, seed, len(plans),
             sum(len(p.clips) for p in plans), out)
    results = parallel_map(_render_subject, jobs, workers=workers, chunk_size=1)
    rows = [r for rs in results for r in rs]
    _write_annotations(out, rows)
    manifest = SynthManifest(out_dir=out, preset=cfg.name, seed=int(seed), config=cfg, clips=tuple(rows))
    _write_manifest(out, manifest, plans)
    return manifest


def _prepare_out_dir(out: Path, overwrite: bool) -> None:
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise ConfigError(f"output folder {str(out)!r} is not empty; pass overwrite=True (CLI --overwrite) "
                              f"to replace an earlier SynthME output, or choose an empty folder.")
        if not (out / "manifest.json").is_file():
            raise ConfigError(f"output folder {str(out)!r} is not empty and holds no SynthME manifest.json; "
                              f"refusing to delete it. Choose an empty folder.")
        for name in [*DATASET_DIRS.values(), GROUNDTRUTH_DIR]:
            if (out / name).is_dir():
                shutil.rmtree(out / name)
        for name in (formats.MEGC_GT, "manifest.json"):
            (out / name).unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)


def _write_annotations(out: Path, rows: Sequence[dict[str, Any]]) -> None:
    casme = [dict(r, apex=r["annotated_apex"]) for r in rows if r["dataset"] == "casme2"]
    if casme:
        formats.write_casme2_sheet(out / "CASME2" / formats.CASME2_SHEET, casme)
    samm = [dict(r, apex=r["annotated_apex"], notes="While blinking" if r["blink"] else None)
            for r in rows if r["dataset"] == "samm"]
    if samm:
        formats.write_samm_sheet(out / "SAMM" / formats.SAMM_SHEET, samm)
    megc = [(_MEGC_NAME[r["dataset"]], r["subject"], r["clip"], r["class"])
            for src in ("casme2", "smic_hs", "samm") for r in rows if r["dataset"] == src and r["class"] != "other"]
    formats.write_megc_gt(out / formats.MEGC_GT, megc)
    columns = list(rows[0]) if rows else []
    lines = [",".join(columns)] + [",".join(_csv(r[c]) for c in columns) for r in rows]
    write_text(out / GROUNDTRUTH_DIR / "clips.csv", "\n".join(lines) + "\n")


def _csv(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    return f'"{text}"' if ("," in text or '"' in text) else text


def _write_manifest(out: Path, manifest: SynthManifest, plans: Sequence[SubjectPlan]) -> None:
    counts: dict[str, dict[str, int]] = {}
    for r in manifest.clips:
        counts.setdefault(r["dataset"], {}).setdefault(r["class"], 0)
        counts[r["dataset"]][r["class"]] += 1
    write_json(out / "manifest.json", {
        "generator": "merkit.synth",
        "generator_version": GENERATOR_VERSION,
        "preset": manifest.preset,
        "seed": manifest.seed,
        "parameters": manifest.config.to_dict(),
        "counts": counts,
        "subjects": {p.source + "/" + p.subject: p.identity.to_dict() for p in plans},
        "layout": {src: DATASET_DIRS[src] for src in manifest.config.sources},
        "megc_gt": formats.MEGC_GT,
        "groundtruth": GROUNDTRUTH_DIR,
    })

"""SynthME macro mode: posed macro-expressions held at the apex, written as a class-per-folder image set.

Seed 003 pre-trains on macro-expression datasets (CK+, Oulu-CASIA, JAFFE,
MUG) before fine-tuning on micro-expressions. Those are licence-gated, so
this module writes a stand-in with the same structure: several identities,
each posing every class a few times, a few frames near each pose's apex
(like CK+'s "last three frames"), as ``out/<class>/<subject>_<take>_<frame>.png``
readable by :func:`merkit.data.macro.load_image_folder` (``dataset="synthme_macro"``).

Faces are SynthME's (:mod:`merkit.synth.identity`, :mod:`merkit.synth.render`)
with the class AU combinations of :data:`merkit.synth.actions.CLASS_AU_COMBOS`;
only the amplitude and the extent differ. A macro pose asks for ``peak_iod``
x IOD (default 0.3, about 14 px at the ``small`` preset's 48 px IOD), against
0.3-2.5 px for SynthME micro-expressions, and widens every AU blob by
``blob_scale`` (default 3). The warp is still capped by
:data:`~merkit.synth.actions.MAX_JACOBIAN` so it never folds; that cap is
why the blobs are widened: at micro width (``blob_scale=1``, the first
defaults, with ``peak_iod=0.12``) it held the poses to 1.4-7 px, so subtle
that HOG + logistic regression told the classes apart only 75 % of the time
(subject-held-out, 64 px eye-masked crops) and MobileViT phase 1 stayed near
chance. With the defaults the poses reach 5-17 px (median 12) and the same
HOG check reaches 0.90 (docs/models/mobilevit_me.md, "Phase 1 diagnosis").

The frames of a take are the apex pose scaled by ``1 - k * hold_decay``
(k = 0 for the last frame) with fresh sensor noise and a small head
jitter, as consecutive frames at a posed apex.

Identities are drawn from a seed stream disjoint from the micro generator's
(``[seed, 0x3AC0, j]``), so macro subjects are other people than the SynthME
micro subjects, as CK+ subjects are not CASME II subjects.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from merkit._io import write_bytes, write_json
from merkit.errors import ConfigError
from merkit.synth.actions import CLASS_AU_COMBOS, Blob, au_blobs, dense_field, normalise_peak
from merkit.synth.clip import warp_by_flow
from merkit.synth.config import get_preset
from merkit.synth.identity import sample_identity
from merkit.synth.render import place_face, render_face

__all__ = ["MacroConfig", "MacroManifest", "generate_macro", "MACRO_CLASSES"]

log = logging.getLogger(__name__)

#: Classes written, one folder each (the ``macro3`` label set's classes).
MACRO_CLASSES: tuple[str, ...] = ("negative", "positive", "surprise")
_SEED_TAG = 0x3AC0


@dataclass(frozen=True)
class MacroConfig:
    """Parameters of a SynthME macro-expression set.

    Attributes:
        n_subjects: identities (48: with 12, ten training identities were too few for a network
            to learn the classes apart from who poses them).
        takes_per_class: poses of each class per identity.
        frames_per_take: frames written near each pose's apex.
        camera_preset: SynthME preset whose CASME II camera (frame size, IOD, noise, background) is used.
        peak_iod: peak AU displacement as a fraction of the IOD, before the invertibility cap.
        peak_jitter: relative per-take variation of the peak (0.2 = +-20 %).
        hold_decay: amplitude drop per frame away from the apex frame.
        head_jitter_px: standard deviation of the face position between frames of a take, pixels.
        rotation_deg: standard deviation of the face roll per take, degrees.
        blob_scale: factor on every AU blob's width (SynthME micro-expressions use 1). Wider
            blobs move a larger region and, under the same fold-free cap
            (:data:`~merkit.synth.actions.MAX_JACOBIAN`), can carry a larger peak: at 1 the cap
            held macro poses to 1.4-7 px (0.03-0.15 IOD), too subtle to be "macro".
    """

    n_subjects: int = 48
    takes_per_class: int = 3
    frames_per_take: int = 3
    camera_preset: str = "small"
    peak_iod: float = 0.3
    peak_jitter: float = 0.2
    hold_decay: float = 0.05
    head_jitter_px: float = 0.5
    rotation_deg: float = 2.0
    blob_scale: float = 3.0

    def __post_init__(self) -> None:
        for name in ("n_subjects", "takes_per_class", "frames_per_take"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"MacroConfig.{name} must be a positive integer; got {value!r}.")
        if not 0 < self.peak_iod <= 0.5:
            raise ConfigError(f"MacroConfig.peak_iod must be in (0, 0.5] IOD; got {self.peak_iod!r}.")
        if not 0.5 <= self.blob_scale <= 4:
            raise ConfigError(f"MacroConfig.blob_scale must be in [0.5, 4]; got {self.blob_scale!r}.")
        if not 0 <= self.peak_jitter < 1 or not 0 <= self.hold_decay < 0.5:
            raise ConfigError(f"MacroConfig.peak_jitter must be in [0, 1) and hold_decay in [0, 0.5); got "
                              f"{self.peak_jitter!r} and {self.hold_decay!r}.")


@dataclass(frozen=True)
class MacroManifest:
    """What :func:`generate_macro` wrote.

    Attributes:
        out_dir: the class-per-folder root.
        seed: the generator seed.
        config: the parameters.
        images: ``(class, subject, take, frame, combo, peak_px)`` per written image.
    """

    out_dir: Path
    seed: int
    config: MacroConfig
    images: tuple[tuple[str, str, int, int, str, float], ...]

    @property
    def n_images(self) -> int:
        return len(self.images)


def _choose(rng: np.random.Generator, table: tuple[tuple[str, float], ...]) -> str:
    names, probs = zip(*table)
    p = np.asarray(probs, np.float64)
    return str(names[int(rng.choice(len(names), p=p / p.sum()))])


def _render_subject(j: int, cfg: MacroConfig, seed: int, out: Path) -> list[tuple]:
    synth = get_preset(cfg.camera_preset)
    cam = synth.sources["casme2"].camera
    rng = np.random.default_rng([seed, _SEED_TAG, j])
    identity = sample_identity(rng, glasses_rate=synth.glasses_rate, shape_jitter=synth.shape_jitter,
                               expressiveness_sigma=synth.expressiveness_sigma)
    face = render_face(identity, cam.iod_px)
    w, h = cam.frame_size
    bg = np.ones((h, w, 3), np.float32) * np.asarray(cam.background_rgb, np.float32)
    subject = f"m{j + 1:02d}"
    written = []
    for cls in MACRO_CLASSES:
        for take in range(cfg.takes_per_class):
            combo = _choose(rng, CLASS_AU_COMBOS[cls])
            angle = np.deg2rad(rng.normal(0, cfg.rotation_deg))
            iod = face.iod_px * (1 + rng.uniform(-cam.iod_jitter, cam.iod_jitter))
            rot = iod / face.iod_px * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
            eye = np.array([w / 2, h / 2 - 0.55 * iod]) + rng.normal(0, cam.placement_px, 2)
            matrix = np.concatenate([rot, (eye - rot @ np.asarray(face.origin_px))[:, None]], 1)
            scene, lm = place_face(face, bg, matrix)
            gray = cv2.cvtColor(np.clip(scene, 0, 1), cv2.COLOR_RGB2GRAY)
            peak = cfg.peak_iod * iod * (1 + rng.uniform(-cfg.peak_jitter, cfg.peak_jitter))
            weights = [float(rng.uniform(*synth.au_weight_range)) for _ in combo.split("+")]
            blobs = [Blob(b.centre, b.vector, b.sigma * cfg.blob_scale)
                     for b in au_blobs(combo, lm, iod, rot / np.linalg.norm(rot[0]), weights)]
            blobs, used = normalise_peak(blobs, peak)
            field = dense_field(blobs, (h, w))
            for k in range(cfg.frames_per_take):
                frame_no = cfg.frames_per_take - k  # the last frame is the apex, as in CK+
                scale = 1.0 - (cfg.frames_per_take - frame_no) * cfg.hold_decay
                image = warp_by_flow(gray, field * scale)
                shift = rng.normal(0, cfg.head_jitter_px, 2)
                image = cv2.warpAffine(image, np.array([[1, 0, shift[0]], [0, 1, shift[1]]], np.float32), (w, h),
                                       borderMode=cv2.BORDER_REPLICATE)
                image = np.clip(image + rng.normal(0, cam.noise_sigma / 255.0, image.shape), 0, 1)
                ok, buf = cv2.imencode(".png", (image * 255 + 0.5).astype(np.uint8))
                if not ok:
                    raise ConfigError(f"OpenCV could not encode a PNG of shape {image.shape}.")
                write_bytes(out / cls / f"{subject}_{take:02d}_{frame_no:02d}.png", buf.tobytes())
                written.append((cls, subject, take, frame_no, combo, round(float(used * scale), 4)))
    return written


def generate_macro(
    out_dir: str | os.PathLike,
    config: MacroConfig | None = None,
    seed: int = 0,
    *,
    overwrite: bool = False,
) -> MacroManifest:
    """Write a SynthME macro-expression set (module docstring).

    Args:
        out_dir: output folder; must be empty or absent unless ``overwrite`` (then only a
            previous macro set, recognised by its ``macro_manifest.json``, is replaced).
        config: parameters (default :class:`MacroConfig`).
        seed: generator seed; the same seed and config give identical files.
        overwrite: replace a previous SynthME macro output.

    Returns:
        :class:`MacroManifest`.

    Raises:
        ConfigError: ``out_dir`` holds other files.
    """
    cfg = config or MacroConfig()
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        if not (overwrite and (out / "macro_manifest.json").is_file()):
            raise ConfigError(f"output folder {str(out)!r} is not empty; pass overwrite=True (CLI --overwrite) to "
                              f"replace an earlier SynthME macro output, or choose an empty folder.")
        for cls in MACRO_CLASSES:
            shutil.rmtree(out / cls, ignore_errors=True)
    rows = []
    for j in range(cfg.n_subjects):
        rows += _render_subject(j, cfg, int(seed), out)
    manifest = MacroManifest(out, int(seed), cfg, tuple(rows))
    write_json(out / "macro_manifest.json", {
        "kind": "synthme_macro", "seed": int(seed), "config": asdict(cfg), "n_images": len(rows),
        "columns": ["class", "subject", "take", "frame", "action_units", "peak_px"], "images": [list(r) for r in rows]})
    log.info("SynthME macro seed %d: %d images of %d subjects -> %s", seed, len(rows), cfg.n_subjects, out)
    return manifest

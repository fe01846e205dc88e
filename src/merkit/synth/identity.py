"""Synthetic identities: what makes one synthetic subject look and move unlike another.

An :class:`Identity` holds every per-subject draw: face shape (landmark
offsets), skin tone and texture seed, hair colour and hairline, glasses, and
the subject's motion habits (expressiveness, habitual action unit, head
sway). Identities are drawn by :func:`sample_identity` from a seeded
:class:`numpy.random.Generator`, so a subject is the same across runs with
the same seed.

Habits make identity a confound on purpose: a subject with a habitual AU4
frown produces brow motion in *every* class, and per-subject class
propensities (chosen in :mod:`merkit.synth.generate`) mean that "who" partly
predicts "what" in the training folds but not in the left-out subject.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from merkit.synth._landmarks import MEAN_SHAPE_68, MIRROR_68

__all__ = ["Identity", "sample_identity", "HABIT_CHOICES"]

#: Action-unit combinations a subject may perform habitually, in every class.
HABIT_CHOICES: tuple[str, ...] = ("4", "1+2", "14", "24", "17", "12", "6", "10")

# Skin tones (RGB, 0..1) spanning light to dark; a subject interpolates between neighbours.
_SKIN_TONES = np.array(
    [[0.95, 0.80, 0.70], [0.88, 0.70, 0.58], [0.78, 0.58, 0.44], [0.62, 0.44, 0.32], [0.42, 0.28, 0.20]]
)
_HAIR_COLOURS = np.array(
    [[0.06, 0.05, 0.05], [0.20, 0.12, 0.07], [0.38, 0.24, 0.12], [0.72, 0.58, 0.34], [0.55, 0.53, 0.52]]
)
_HAIR_WEIGHTS = np.array([0.45, 0.25, 0.12, 0.1, 0.08])


@dataclass(frozen=True)
class Identity:
    """One synthetic subject.

    Attributes:
        shape: (68, 2) neutral landmarks in IOD units (eye midpoint at the origin, y down).
        skin_rgb: base skin colour, RGB in [0, 1].
        hair_rgb: hair and eyebrow colour, RGB in [0, 1].
        lip_rgb: lip colour, RGB in [0, 1].
        iris_rgb: iris colour, RGB in [0, 1].
        hairline: forehead height above the brow line, IOD units.
        hair_volume: how far the hair extends beyond the face outline, IOD units.
        bald: no hair on top of the head.
        glasses: wears glasses.
        glasses_round: round (True) or rectangular (False) rims.
        glasses_rgb: rim colour, RGB in [0, 1].
        brow_thickness: eyebrow thickness, IOD units.
        texture_seed: seed of the skin texture (pores, blotches), fixed per subject.
        light_side: horizontal direction of the key light, -1 (image left) .. 1.
        expressiveness: multiplier on this subject's AU amplitudes (1 = average).
        habit_aus: AU combination the subject performs out of habit in any clip.
        habit_amplitude: peak displacement of the habit, in units of the class AU amplitude.
        habit_rate: probability that a clip of this subject contains the habit.
        sway_px: head-sway scale of this subject, as a multiple of the source's head motion.
    """

    shape: np.ndarray
    skin_rgb: tuple[float, float, float]
    hair_rgb: tuple[float, float, float]
    lip_rgb: tuple[float, float, float]
    iris_rgb: tuple[float, float, float]
    hairline: float
    hair_volume: float
    bald: bool
    glasses: bool
    glasses_round: bool
    glasses_rgb: tuple[float, float, float]
    brow_thickness: float
    texture_seed: int
    light_side: float
    expressiveness: float
    habit_aus: str
    habit_amplitude: float
    habit_rate: float
    sway_px: float

    def to_dict(self) -> dict:
        """JSON-friendly description (the shape as a nested list, rounded to 1e-4 IOD)."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "shape"}
        out["shape"] = np.round(self.shape, 4).tolist()
        return out


def _symmetric_noise(rng: np.random.Generator, scale: float, asymmetry: float) -> np.ndarray:
    noise = rng.normal(0.0, scale, size=(68, 2))
    mirrored = noise[list(MIRROR_68)] * [-1.0, 1.0]
    sym = (noise + mirrored) / 2.0
    return sym + asymmetry * (noise - sym)


def sample_identity(
    rng: np.random.Generator,
    *,
    glasses_rate: float = 0.3,
    habit_rate: tuple[float, float] = (0.3, 0.8),
    habit_amplitude: tuple[float, float] = (0.4, 1.2),
    expressiveness_sigma: float = 0.35,
    shape_jitter: float = 0.02,
) -> Identity:
    """Draw one identity.

    Args:
        rng: the generator all draws come from (advanced by this call).
        glasses_rate: probability that the subject wears glasses.
        habit_rate: range of the per-clip probability of the subject's habit.
        habit_amplitude: range of the habit's amplitude relative to the class AU amplitude.
        expressiveness_sigma: sigma of the log-normal expressiveness multiplier.
        shape_jitter: per-landmark shape noise, IOD units.

    Returns:
        A frozen :class:`Identity`.
    """
    p = MEAN_SHAPE_68.copy()
    # Global proportions: face width, jaw length, eye spacing, feature heights.
    width = rng.uniform(0.92, 1.1)
    p[0:17, 0] *= width
    p[0:17, 1] = np.where(p[0:17, 1] > 0.5, 0.5 + (p[0:17, 1] - 0.5) * rng.uniform(0.9, 1.15), p[0:17, 1])
    eye_gap = rng.uniform(-0.05, 0.05)
    eye_size = rng.uniform(0.85, 1.2)
    for eye, sign in ((range(36, 42), -1.0), (range(42, 48), 1.0)):
        idx = list(eye)
        centre = p[idx].mean(0)
        p[idx] = centre + (p[idx] - centre) * [1.0, eye_size]
        p[idx, 0] += sign * eye_gap
    p[17:27, 1] += rng.uniform(-0.06, 0.05)  # brow height
    nose = rng.uniform(0.9, 1.12)
    p[28:36, 1] = p[27, 1] + (p[28:36, 1] - p[27, 1]) * nose
    p[31:36, 0] *= rng.uniform(0.85, 1.2)
    mouth_w = rng.uniform(0.85, 1.12)
    p[48:68, 0] *= mouth_w
    p[48:68, 1] += rng.uniform(-0.05, 0.07) + (nose - 1.0) * 0.5
    lip = rng.uniform(0.7, 1.4)  # lip thickness
    p[48:55, 1] = p[60:65, 1].mean() + (p[48:55, 1] - p[60:65, 1].mean()) * lip
    p[55:60, 1] = p[65:68, 1].mean() + (p[55:60, 1] - p[65:68, 1].mean()) * lip
    p += _symmetric_noise(rng, shape_jitter, asymmetry=0.3)

    t = rng.uniform(0.0, len(_SKIN_TONES) - 1.0)
    lo = int(np.floor(t))
    hi = min(lo + 1, len(_SKIN_TONES) - 1)
    skin = _SKIN_TONES[lo] * (1 - (t - lo)) + _SKIN_TONES[hi] * (t - lo)
    skin = np.clip(skin + rng.normal(0, 0.02, 3), 0.05, 1.0)
    hair = _HAIR_COLOURS[rng.choice(len(_HAIR_COLOURS), p=_HAIR_WEIGHTS)]
    hair = np.clip(hair + rng.normal(0, 0.03, 3), 0.02, 1.0)
    lip_rgb = np.clip(skin * [0.85, 0.55, 0.55] + rng.normal(0, 0.02, 3), 0.02, 1.0)
    iris = [(0.25, 0.15, 0.08), (0.12, 0.08, 0.05), (0.3, 0.4, 0.5), (0.3, 0.35, 0.2)][int(rng.integers(4))]
    glasses_rgb = [(0.05, 0.05, 0.05), (0.35, 0.2, 0.1), (0.6, 0.6, 0.62)][int(rng.integers(3))]
    return Identity(
        shape=p,
        skin_rgb=tuple(float(v) for v in skin),
        hair_rgb=tuple(float(v) for v in hair),
        lip_rgb=tuple(float(v) for v in lip_rgb),
        iris_rgb=tuple(float(v) for v in iris),
        hairline=float(rng.uniform(0.55, 1.05)),
        hair_volume=float(rng.uniform(0.08, 0.35)),
        bald=bool(rng.random() < 0.06),
        glasses=bool(rng.random() < glasses_rate),
        glasses_round=bool(rng.random() < 0.5),
        glasses_rgb=tuple(float(v) for v in glasses_rgb),
        brow_thickness=float(rng.uniform(0.06, 0.12)),
        texture_seed=int(rng.integers(2**31 - 1)),
        light_side=float(rng.uniform(-1.0, 1.0)),
        expressiveness=float(np.exp(rng.normal(0.0, expressiveness_sigma))),
        habit_aus=str(HABIT_CHOICES[int(rng.integers(len(HABIT_CHOICES)))]),
        habit_amplitude=float(rng.uniform(*habit_amplitude)),
        habit_rate=float(rng.uniform(*habit_rate)),
        sway_px=float(np.exp(rng.normal(0.0, 0.35))),
    )

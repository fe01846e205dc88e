"""The true motion between any two frames of a SynthME clip, rebuilt from the generator itself.

The ground-truth folder stores the onset-to-apex field and per-frame
landmarks only. Methods that predict motion between *other* frames (MOL's
flow head predicts every consecutive pair of a sampled clip) need the true
field between any frames ``i`` and ``j``. :class:`SynthTruth` replays the
generator on the tree's ``manifest.json`` (preset, parameters, seed): it plans
the dataset, draws the subject's face and background and runs
:func:`merkit.synth.generate.clip_scene`, the very function the renderer
films, so the fields are exact, not re-estimated. No frame is rendered.

Fields follow :mod:`merkit.synth.actions`' convention (forward, pixels, on the
first frame's grid); :meth:`ClipMotion.pair_field` ``(i, j)`` is what
``cv2.calcOpticalFlow*(frame_i, frame_j)`` estimates.

Example:
    >>> truth = SynthTruth("data/synthme_small")  # doctest: +SKIP
    >>> motion = truth.motion("casme2", "sub01", "EP02_01f")  # doctest: +SKIP
    >>> motion.pair_field(3, 7).shape  # doctest: +SKIP
    (480, 640, 2)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from merkit._options import unknown_name
from merkit.errors import ConfigError, DatasetNotFoundError
from merkit.synth._plan import ClipPlan, SubjectPlan, plan_dataset
from merkit.synth.actions import dense_field
from merkit.synth.clip import HeadMotion, appearance_source, onset_field, pair_field, warp_by_flow
from merkit.synth.config import SynthConfig, get_preset
from merkit.synth.generate import GENERATOR_VERSION, GROUNDTRUTH_DIR, clip_scene, subject_stage

__all__ = ["ClipMotion", "SynthTruth"]

#: Largest allowed difference (pixels) between replayed and stored onset landmarks.
_LANDMARK_TOLERANCE_PX = 1e-3


@dataclass(frozen=True)
class ClipMotion:
    """The motion of one clip, as the generator built it.

    Attributes:
        key: ``'dataset/subject/clip'``.
        frame_numbers: frame numbers on disk, in order (position ``t`` is ``frame_numbers[t]``).
        onset_index, apex_index: 0-based positions of onset and true apex.
        fields: one (H, W, 2) float32 blob field per motion component (class AUs, blink, habit), pixels.
        profiles: one (T,) activation per component, relative to the onset.
        head: rigid head motion relative to the onset pose.
        head_weight: (H, W) float32 in [0, 1], how much each pixel follows the head.
        reference: (H, W[, 3]) float32 noise-free onset image, grey levels 0..255.
        iterations: fixed-point iterations of the field inversions (the generator's ``warp_iterations``).
        appearance: (H, W) float32 appearance map of the class AUs (``appearance_contrast > 0``), or
            None; :meth:`clean_frame` applies it, the fields never contain it.
    """

    key: str
    frame_numbers: tuple[int, ...]
    onset_index: int
    apex_index: int
    fields: tuple[np.ndarray, ...]
    profiles: tuple[np.ndarray, ...]
    head: HeadMotion
    head_weight: np.ndarray
    reference: np.ndarray
    iterations: int
    appearance: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.frame_numbers)

    def _check(self, t: int) -> int:
        if not -len(self) <= t < len(self):
            raise ConfigError(f"frame position {t} is out of range for SynthME clip {self.key!r} with "
                              f"{len(self)} frames.")
        return t % len(self)

    def onset_field(self, t: int) -> np.ndarray:
        """(H, W, 2) float32 forward field from the onset frame to frame position ``t``, pixels."""
        return onset_field(self.fields, self.profiles, self.head, self.head_weight, self._check(t))

    def pair_field(self, i: int, j: int) -> np.ndarray:
        """(H, W, 2) float32 forward field from frame position ``i`` to ``j`` on frame ``i``'s grid, pixels.

        ``warp_by_flow(clean_frame(i), pair_field(i, j))`` reproduces ``clean_frame(j)`` (tested;
        with ``appearance_contrast > 0`` only up to the creases' luminance change).
        """
        return pair_field(self.onset_field(i), self.onset_field(j), self.iterations)

    def clean_frame(self, t: int) -> np.ndarray:
        """Noise-free, unlit frame ``t`` (float32, grey levels 0..255): the onset image warped by ``H_t``."""
        t = self._check(t)
        if t == self.onset_index:
            return self.reference.copy()
        source = self.reference
        if self.appearance is not None:
            source = appearance_source(self.reference, self.appearance, float(self.profiles[0][t]))
        return warp_by_flow(source, self.onset_field(t), self.iterations)


def _normalised(value: Any) -> Any:
    return json.loads(json.dumps(value))


class SynthTruth:
    """Replays the generator of one SynthME tree to give exact per-frame motion.

    Args:
        root: the tree's folder (the one holding ``manifest.json``).

    Raises:
        DatasetNotFoundError: no ``manifest.json`` under ``root``.
        ConfigError: the tree was written by another generator version, or its recorded parameters
            do not rebuild a :class:`SynthConfig` (overrides, ``amplitude_scale`` and
            ``appearance_contrast`` included, are replayed from ``manifest.json``).
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        path = self.root / "manifest.json"
        if not path.is_file():
            raise DatasetNotFoundError(f"no SynthME manifest.json in {str(self.root)!r}; pass the folder that "
                                       f"`merkit synth` wrote.")
        manifest = json.loads(path.read_text())
        version = manifest.get("generator_version")
        if version != GENERATOR_VERSION:
            raise ConfigError(f"{str(path)!r} was written by SynthME generator {version!r}; this is "
                              f"{GENERATOR_VERSION!r}, whose replay would not match its frames. Regenerate the tree.")
        cfg: SynthConfig = get_preset(manifest["preset"])
        if _normalised(cfg.to_dict()) != manifest.get("parameters"):  # generated with overrides
            try:
                cfg = SynthConfig.from_dict(manifest.get("parameters") or {})
            except ConfigError as exc:
                raise ConfigError(f"{str(path)!r}: its parameters cannot be replayed ({exc})") from None
            if _normalised(cfg.to_dict()) != manifest.get("parameters"):
                raise ConfigError(f"{str(path)!r}: its parameters do not round-trip through SynthConfig; its "
                                  f"motion cannot be replayed. Regenerate the tree.")
        self.config = cfg
        self.seed = int(manifest["seed"])
        self._clips: dict[str, tuple[SubjectPlan, ClipPlan]] = {}
        for subject in plan_dataset(cfg, self.seed):
            for plan in subject.clips:
                self._clips[f"{plan.source}/{plan.subject}/{plan.clip}"] = (subject, plan)
        self._stage: tuple[str, Any] | None = None  # the last subject's face and background

    def keys(self) -> list[str]:
        """Every clip key ``'dataset/subject/clip'`` of the tree."""
        return list(self._clips)

    def landmarks(self, dataset: str, subject: str, clip: str) -> np.ndarray:
        """(T, 68, 2) float32 true landmarks per frame, frame pixels (the stored ``landmarks.npy``)."""
        path = self.root / GROUNDTRUTH_DIR / dataset / subject / clip / "landmarks.npy"
        if not path.is_file():
            raise DatasetNotFoundError(f"no ground-truth landmarks {str(path)!r}.")
        return np.load(path, allow_pickle=False)

    def motion(self, dataset: str, subject: str, clip: str) -> ClipMotion:
        """The motion of one clip.

        Raises:
            UnknownNameError: the tree has no such clip.
            ConfigError: the replayed onset landmarks differ from the stored ones (the tree does
                not come from this generator and manifest).
        """
        key = f"{dataset}/{subject}/{clip}"
        if key not in self._clips:
            raise unknown_name("SynthME clip", key, self._clips, hint=f"(in {str(self.root)!r})")
        subject_plan, plan = self._clips[key]
        subject_key = f"{subject_plan.source}/{subject_plan.subject}"
        if self._stage is None or self._stage[0] != subject_key:  # clips come grouped by subject
            self._stage = (subject_key, subject_stage(subject_plan, self.config))
        face, background = self._stage[1]
        cam = self.config.sources[plan.source].camera
        scene = clip_scene(plan, face, subject_plan.identity, cam, background)
        stored = self.landmarks(dataset, subject, clip)[scene.onset_index]
        gap = float(np.abs(stored - scene.landmarks).max())
        if gap > _LANDMARK_TOLERANCE_PX:
            raise ConfigError(f"SynthME clip {key!r}: replayed onset landmarks differ from the stored "
                              f"landmarks.npy by {gap:.4f} px; the tree was not written by this generator.")
        h, w = scene.reference.shape[:2]
        return ClipMotion(
            key=key,
            frame_numbers=tuple(plan.frame_numbers),
            onset_index=scene.onset_index,
            apex_index=scene.apex_index,
            fields=tuple(dense_field(c.blobs, (h, w)) for c in scene.components),
            profiles=tuple(c.profile - c.profile[scene.onset_index] for c in scene.components),
            head=scene.head,
            head_weight=scene.head_weight.astype(np.float32),
            reference=scene.reference,
            iterations=self.config.warp_iterations,
            appearance=scene.appearance,
        )

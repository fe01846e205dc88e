"""The ``gray_apex_masked`` input of seed 003: aligned grayscale face, eyes masked, one image per sample.

Seed 003 (Liu et al., 2022, Fig. 2) prepares macro- and micro-expression
images the same way so that transfer works: (A) take the apex frame (the
last frames of a macro sequence, the annotated apex of a micro clip, the
middle frame for SMIC, which the loaders' apex policy supplies), (B) convert
to grayscale, (C) crop the face, (D) rotate it so the eyes are horizontal,
(E) mask the eyes. Here (C)+(D) are :func:`merkit.face.align_clip` in
``eye_line`` mode on that one image (dlib detection and 68 landmarks on the
image itself, so a micro apex and a macro peak go through identical code),
and (E) zeroes :meth:`~merkit.face.AlignedClip.eye_mask` (landmark hull
grown by ``eye_margin`` x the eye width; the paper gives no size).

Output: ``(1, size, size)`` float32 grey levels in [0, 1] with the eyes at 0.
Results are cached per image through :func:`merkit.cache.memoise` (namespace
``features.gray_apex_masked``, keyed by the settings and the file); images
are prepared in ``workers`` processes by :func:`merkit._parallel.parallel_map`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from merkit._parallel import parallel_map
from merkit.cache import FeatureCache, memoise
from merkit.data.sample import table_to_samples
from merkit.errors import ConfigError, FaceNotFoundError
from merkit.face import AlignConfig, align_clip
from merkit.inputs.feature_set import FeatureSet
from merkit.inputs.registry import register_inputs

__all__ = ["GrayApexConfig", "gray_masked_face", "GrayApexProvider", "KIND"]

log = logging.getLogger(__name__)

KIND = "gray_apex_masked"
_VERSION = 1


@dataclass(frozen=True)
class GrayApexConfig:
    """Settings of the ``gray_apex_masked`` input.

    Attributes:
        size: side of the square crop in pixels (the paper's 256).
        eye_margin: growth of each eye's landmark hull, fraction of the eye width.
        margin: border around the face's landmark box (``AlignConfig.margin``).
        cache_dir: feature cache root ("" -> ``$MERKIT_CACHE_DIR`` or ``~/.cache/merkit``).
        workers: processes running face detection (1: in this process).
    """

    size: int = 256
    eye_margin: float = 0.25
    margin: float = 0.1
    cache_dir: str = ""
    workers: int = 1

    def __post_init__(self) -> None:
        if not 16 <= self.size <= 1024:
            raise ConfigError(f"gray_apex.size must be in [16, 1024] pixels; got {self.size!r}.")
        if not 0 <= self.eye_margin <= 1:
            raise ConfigError(f"gray_apex.eye_margin must be in [0, 1]; got {self.eye_margin!r}.")
        if self.workers < 1:
            raise ConfigError(f"gray_apex.workers must be >= 1; got {self.workers!r}.")


def gray_masked_face(path: str, cfg: GrayApexConfig, cache: FeatureCache | None = None) -> np.ndarray:
    """One image file -> ``(1, size, size)`` float32 in [0, 1], aligned, eyes at 0 (module docstring).

    Raises:
        FaceNotFoundError: dlib finds no face in ``path`` (the message names the file).
        FrameReadError: the file cannot be read.
    """
    settings = {k: v for k, v in asdict(cfg).items() if k not in ("cache_dir", "workers")}
    return memoise(cache, f"features.{KIND}", {**settings, "version": _VERSION}, [path],
                   lambda: {"x": _compute(path, cfg)}, meta={"path": path, "kind": KIND})["x"]


def _compute(path: str, cfg: GrayApexConfig) -> np.ndarray:
    clip = align_clip([path], AlignConfig(mode="eye_line", size=cfg.size, color="gray", margin=cfg.margin))
    face = clip.frames[0].astype(np.float32) / 255.0
    face[clip.eye_mask(cfg.eye_margin)] = 0.0
    return np.ascontiguousarray(face[None], dtype=np.float32)


class _GrayFaceJob:
    """Picklable per-image job for :func:`merkit._parallel.parallel_map`; a faceless image gives its error text."""

    def __init__(self, cfg: GrayApexConfig, skip: bool) -> None:
        self.cfg = cfg
        self.skip = skip

    def __call__(self, path: str) -> np.ndarray | str:
        try:
            return gray_masked_face(path, self.cfg, FeatureCache(self.cfg.cache_dir or None))
        except FaceNotFoundError as exc:
            if not self.skip:
                raise
            return str(exc)


class GrayApexProvider:
    """Compute ``gray_apex_masked`` inputs for a micro sample table or a macro image table.

    Args:
        cfg: settings.
        progress: show a progress bar.
    """

    def __init__(self, cfg: GrayApexConfig | None = None, progress: bool = False) -> None:
        self.cfg = cfg or GrayApexConfig()
        self.progress = progress

    def _run(self, paths: Sequence[str], skip: bool) -> list[np.ndarray | str]:
        return parallel_map(_GrayFaceJob(self.cfg, skip), list(paths), workers=self.cfg.workers,
                            progress=self.progress, desc=KIND)

    def for_samples(self, table: pd.DataFrame) -> FeatureSet:
        """Apex frames of a micro-expression sample table, keyed by ``sample_key``.

        Raises:
            FaceNotFoundError: naming the first apex frame without a face (every test sample needs an input).
        """
        samples = table_to_samples(table)
        paths = [str(s.frame_paths[s.apex_index]) for s in samples]
        values = self._run(paths, skip=False)
        return FeatureSet([s.key for s in samples], np.stack(values).astype(np.float32), KIND)

    def for_images(self, table: pd.DataFrame, skip_missing_faces: bool = True) -> tuple[FeatureSet, pd.DataFrame]:
        """Images of a macro image table (:mod:`merkit.data.macro`), keyed by ``image_key``.

        Images without a detectable face are dropped with a log line when
        ``skip_missing_faces`` (the paper screened its macro images by hand);
        otherwise the first one raises.

        Returns:
            ``(features, kept rows of table)``.
        """
        values = self._run(table["path"].astype(str).tolist(), skip=skip_missing_faces)
        keep = np.array([not isinstance(v, str) for v in values], dtype=bool)
        for v in values:
            if isinstance(v, str):
                log.warning("macro image skipped: %s", v)
        if not keep.any():
            raise FaceNotFoundError(f"no face was found in any of the {len(table)} macro images, e.g. "
                                    f"{table['path'].iloc[0]!r}.")
        kept = table[keep].reset_index(drop=True)
        arrays = np.stack([v for v in values if not isinstance(v, str)]).astype(np.float32)
        return FeatureSet(kept["image_key"].tolist(), arrays, KIND), kept


@register_inputs("gray_apex_masked", settings=GrayApexConfig)
def prepare_gray_apex(table: pd.DataFrame, settings: GrayApexConfig, *, kind: str = "gray_apex_masked",
                      progress: bool = False) -> FeatureSet:
    """The registered preparer of ``gray_apex_masked``: :meth:`GrayApexProvider.for_samples`."""
    return GrayApexProvider(settings, progress=progress).for_samples(table)

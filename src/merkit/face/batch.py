"""Batch face extraction for a folder, a video or a whole dataset tree (``merkit faces``).

:func:`find_face_items` turns a path into clips: a video file or an image is
one clip; a folder holding images is one clip; any other folder is searched
recursively and every folder holding images and every video below it is one
clip (``CASME2_RAW_selected/sub01/EP02_01f``, ``SAMM/006/006_1_2``, ...).

:func:`extract_faces` aligns each clip on its first frame and writes, under
``out_dir``::

    <clip>/crops/<frame>.png   aligned crops (frame names kept for image folders)
    <clip>/overlay.png         reference frame with landmarks, detector box and crop square
    landmarks.csv              one row per clip and landmark frame: 68 (x, y) in crop pixels
    faces.csv                  one row per clip: status, frames, faces found, note, error
    faces.json                 the settings used

A clip that fails (no face, unreadable frame, undecodable video) is recorded
in ``faces.csv`` with its error, and the batch goes on. With ``track_every`` each
frame gets its own alignment from a face track instead (:mod:`merkit.face.tracked`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from merkit._io import atomic_path, write_json
from merkit.cache import FeatureCache
from merkit.data.frames import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, ImageFiles, VideoFile, open_frames
from merkit.errors import DatasetNotFoundError, FrameReadError, MerkitError
from merkit.face.align import AlignConfig
from merkit.face.backends import N_LANDMARKS, LandmarkBackend, create_backend
from merkit.face.clip import AlignedClip, align_clip
from merkit.face.overlay import draw_overlay, write_png

__all__ = ["FaceItem", "FaceItemResult", "FaceSummary", "find_face_items", "extract_faces"]

log = logging.getLogger(__name__)

Progress = Callable[[Iterable, int], Iterable]


@dataclass(frozen=True)
class FaceItem:
    """One clip to process.

    Attributes:
        name: clip id relative to the input path (posix), used as the output sub-folder.
        source: the folder, video or image file.
    """

    name: str
    source: Path


@dataclass(frozen=True)
class FaceItemResult:
    """Outcome of one clip.

    Attributes:
        name: clip id.
        source: input path.
        ok: ``True`` when crops were written.
        n_frames: frames written (0 on failure).
        n_faces: faces found on the reference frame (the largest was used).
        note: remarks such as "2 faces found; used the largest".
        error: the error message when ``ok`` is ``False``.
    """

    name: str
    source: str
    ok: bool
    n_frames: int = 0
    n_faces: int = 0
    note: str = ""
    error: str = ""


@dataclass(frozen=True)
class FaceSummary:
    """All results of a batch; ``out_dir`` holds the files listed in the module docstring."""

    out_dir: Path
    results: list[FaceItemResult] = field(default_factory=list)

    @property
    def n_ok(self) -> int:
        return sum(r.ok for r in self.results)

    @property
    def n_failed(self) -> int:
        return sum(not r.ok for r in self.results)


def _has_images(folder: Path) -> bool:
    return any(p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS for p in folder.iterdir())


def find_face_items(path: str | os.PathLike) -> list[FaceItem]:
    """List the clips under ``path`` (see the module docstring), sorted by name.

    Raises:
        DatasetNotFoundError: ``path`` does not exist.
        FrameReadError: ``path`` holds no image folder and no video.
    """
    path = Path(path)
    if not path.exists():
        raise DatasetNotFoundError(f"input {str(path)!r} does not exist; pass a folder, video or image file.")
    if path.is_file():
        return [FaceItem(path.stem, path)]
    if _has_images(path):
        return [FaceItem(path.name, path)]
    items = []
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames.sort()
        folder = Path(dirpath)
        rel = folder.relative_to(path)
        if folder != path and _has_images(folder):
            items.append(FaceItem(rel.as_posix(), folder))
        for name in sorted(filenames):
            if Path(name).suffix.lower() in VIDEO_EXTENSIONS:
                items.append(FaceItem((rel / Path(name).stem).as_posix(), folder / name))
    if not items:
        raise FrameReadError(
            f"found no frames under {str(path)!r}: expected image files "
            f"({', '.join(IMAGE_EXTENSIONS)}), folders of them, or videos ({', '.join(VIDEO_EXTENSIONS)})."
        )
    return sorted(items, key=lambda it: it.name)


def _frame_stems(source: Any, n: int) -> list[str]:
    if isinstance(source, ImageFiles):
        return [p.stem for p in source.paths]
    return [f"frame_{i:06d}" for i in range(n)]


def _extract_one(
    item: FaceItem, out_dir: Path, config: AlignConfig, backend: LandmarkBackend, overlay: bool,
    cache: FeatureCache | None, reference_index: int = 0,
) -> tuple[FaceItemResult, list[list[Any]]]:
    source = open_frames(item.source, color="rgb")
    clip: AlignedClip = align_clip(source, config, backend=backend, reference_index=reference_index, cache=cache)
    target = out_dir / item.name
    stems = _frame_stems(source, len(clip))
    for stem, crop in zip(stems, clip.frames):
        write_png(target / "crops" / f"{stem}.png", crop)
    if overlay:
        reference = source[clip.reference_index]
        landmarks = None if clip.landmarks is None else clip.alignment.inverse_points(clip.landmarks)
        box = None if clip.box is None else clip.box.as_tuple()
        write_png(target / "overlay.png", draw_overlay(reference, landmarks, clip.matrix, clip.size, box))
    rows = []
    if clip.frame_landmarks is not None:
        for i, pts in enumerate(clip.frame_landmarks):
            rows.append([item.name, i, stems[i], clip.n_faces, *pts[:, 0], *pts[:, 1]])
    elif clip.landmarks is not None:
        ref = clip.reference_index
        rows.append([item.name, ref, stems[ref], clip.n_faces, *clip.landmarks[:, 0], *clip.landmarks[:, 1]])
    note = f"{clip.n_faces} faces found; used the largest" if clip.n_faces > 1 else ""
    if isinstance(source, VideoFile):
        source.close()
    return FaceItemResult(item.name, str(item.source), True, len(clip), clip.n_faces, note), rows


def extract_faces(
    path: str | os.PathLike,
    out_dir: str | os.PathLike,
    config: AlignConfig | None = None,
    *,
    backend: str | LandmarkBackend = "dlib",
    overlay: bool = True,
    cache: FeatureCache | None = None,
    progress: Progress | None = None,
    reference_index: int = 0,
    track_every: int | None = None,
    **overrides: Any,
) -> FaceSummary:
    """Align every clip under ``path`` and write crops, landmarks and overlays to ``out_dir``.

    Args:
        path: a folder of frames, a video, an image, or a tree of those.
        out_dir: output folder (created).
        config: alignment settings; keyword ``overrides`` replace fields.
        backend: face backend name or instance.
        overlay: write ``overlay.png`` per clip.
        cache: optional shared feature cache for aligned clips.
        progress: wraps the item iterable, e.g. ``lambda items, total: tqdm(items, total=total)``.
        reference_index: 0-based frame each clip is aligned on (negative counts from the end).
        track_every: track the face instead (:mod:`merkit.face.tracked`): detect every this many
            frames, crop each frame with its own interpolated alignment, add ``face_present`` and
            ``confidence`` to ``landmarks.csv`` (one row per frame) and keep the crops written
            before a frame that cannot be read.

    Returns:
        :class:`FaceSummary` with one result per clip (failures included).

    Raises:
        DatasetNotFoundError, FrameReadError: ``path`` is missing or holds no frames at all.
    """
    config = AlignConfig(**{**(config or AlignConfig()).to_dict(), **overrides})
    backend = create_backend(backend)
    out = Path(out_dir)
    items = find_face_items(path)
    results: list[FaceItemResult] = []
    rows: list[list[Any]] = []
    iterable: Iterable[FaceItem] = progress(items, len(items)) if progress is not None else items
    for item in iterable:
        try:
            if track_every:
                result, item_rows = _extract_tracked_item(item, out, config, backend, track_every)
            else:
                result, item_rows = _extract_one(item, out, config, backend, overlay, cache, reference_index)
        except MerkitError as exc:
            log.warning("faces: %s failed: %s", item.name, exc)
            result, item_rows = FaceItemResult(item.name, str(item.source), False, error=str(exc)), []
        results.append(result)
        rows.extend(item_rows)
    _write_tables(out, results, rows, tracked=bool(track_every))
    write_json(out / "faces.json", {"input": str(path), "align": config.to_dict(), "backend": backend.settings()})
    return FaceSummary(out, results)


def _extract_tracked_item(item: FaceItem, out_dir: Path, config: AlignConfig, backend: LandmarkBackend,
                          track_every: int) -> tuple[FaceItemResult, list[list[Any]]]:
    from merkit.face.tracked import extract_tracked  # deferred: face.tracked imports cv2 (~90 ms on merkit.face)

    source = open_frames(item.source, color="rgb")
    n = len(source)
    try:
        done = extract_tracked(source, item.name, _frame_stems(source, n), out_dir / item.name, config, backend,
                               track_every)
    finally:
        if isinstance(source, VideoFile):
            source.close()
    missing = len(done.rows) - done.n_present
    note = f"{done.n_present} of {len(done.rows)} frames with a face" + (
        f"; {missing} without (face_present = False in landmarks.csv)" if missing else "")
    return FaceItemResult(item.name, str(item.source), not done.error, done.n_written, 1, note, done.error), done.rows


def _write_tables(out: Path, results: list[FaceItemResult], rows: list[list[Any]], tracked: bool = False) -> None:
    from merkit.face.tracked import TRACK_COLUMNS  # deferred: face.tracked imports cv2 (~90 ms on merkit.face)

    columns = ["clip", "frame_index", "frame", "n_faces"] + (list(TRACK_COLUMNS) if tracked else [])
    first_coord = len(columns)
    columns += [f"x{i}" for i in range(N_LANDMARKS)] + [f"y{i}" for i in range(N_LANDMARKS)]
    table = pd.DataFrame(rows, columns=columns)
    coords = columns[first_coord:]
    table[coords] = np.round(table[coords].astype(float), 3)
    with atomic_path(out / "landmarks.csv") as tmp:
        table.to_csv(tmp, index=False)
    summary = pd.DataFrame(
        [vars(r) for r in results], columns=["name", "source", "ok", "n_frames", "n_faces", "note", "error"]
    ).rename(columns={"name": "clip"})
    with atomic_path(out / "faces.csv") as tmp:
        summary.to_csv(tmp, index=False)

"""Long-video loaders: CAS(ME)^2, SAMM Long Videos, CAS(ME)^3 Part A whole videos.

Layouts (``docs/spotting.md``, "Long-video datasets")::

    CASME_sq/CAS(ME)^2code_final.xlsx       no header; sheet 0 expressions, sheet 1 subjects, sheet 2 videos
    CASME_sq/rawpic/s15/15_0101disgustingteeth/img1.jpg     (variant="rawvideo": rawvideo/s15/15_0101disgustingteeth.avi)
    SAMM_LV/SAMM_LongVideos_V2_Release.xlsx  header row found by content ("Subject" ... "Type")
    SAMM_LV/SAMM_longvideos/006_1/006_1_0001.jpg
    CASME3/cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx, CASME3/part_A/spNO.1/a/color/1.jpg

Frame numbers are parsed from the file names (any padding) and matched with
the sheets' numbers. CAS(ME)^3's whole-video part is firm only for the
micro-expressions of the JpgIndex workbook: its macro-expressions live in
``CAS(ME)3_part_A_v2.xls`` whose columns are not documented publicly, so
``casme3_long`` videos carry micro intervals only.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

from merkit.data._excel import ColumnSpec, _read_rows, cell_to_int, cell_to_text, read_annotation
from merkit.data._frames import IMAGE_SUFFIX, FrameListing, find_child, list_frames
from merkit.data.casme3 import CASME3A_COLUMNS, casme3_subject
from merkit.data.longvideo import ExpressionInterval, LongVideo, LongVideoDataset, register_long_dataset
from merkit.data.frames import VIDEO_EXTENSIONS, VideoFile
from merkit.errors import AnnotationError, ConfigError, DatasetNotFoundError, FrameReadError

__all__ = ["CASMESquared", "SAMMLongVideos", "CASME3Long", "SAMM_LV_COLUMNS"]

SAMM_LV_COLUMNS = (
    ColumnSpec("subject", ("Subject",)),
    ColumnSpec("filename", ("Filename",)),
    ColumnSpec("onset", ("Onset", "Onset Frame")),
    ColumnSpec("apex", ("Apex", "Apex Frame")),
    ColumnSpec("offset", ("Offset", "Offset Frame")),
    ColumnSpec("type", ("Type", "Micro")),
    ColumnSpec("action_units", ("Action Units",), required=False),
    ColumnSpec("emotion", ("Estimated Emotion", "Emotion"), required=False),
)


def _find_file(root: Path, given: Any, patterns: tuple[str, ...], what: str) -> Path:
    if given is not None:
        path = Path(given)
        if not path.is_file():
            raise DatasetNotFoundError(f"annotation file {str(path)!r} does not exist; expected {what}.")
        return path
    for pattern in patterns:
        found = sorted(root.glob(pattern))
        if found:
            return found[0]
    raise DatasetNotFoundError(f"dataset root {str(root)!r} holds no {what}; looked for {list(patterns)!r}. "
                               f"Pass annotation=PATH (CLI --annotation) if it is elsewhere.")


def _kind(text: str, where: str, column: str) -> str:
    folded = text.casefold()
    if folded.startswith("micro"):
        return "micro"
    if folded.startswith("macro"):
        return "macro"
    raise AnnotationError(f"{where}: column {column!r} must say micro or macro ('micro-expression', "
                          f"'Micro - 1/2', 'macro-expression', 'Macro'); got {text!r}.")


class _FramesMixin(LongVideoDataset):
    def _listing(self, folder: Path, pattern: str, describe: str, where: str) -> FrameListing | None:
        try:
            return list_frames(folder, pattern, describe)
        except (DatasetNotFoundError, AnnotationError) as exc:
            self.problem(where, f"{where}: {exc}", type(exc))
            return None

    def _intervals(self, rows: list[dict[str, Any]], numbers: tuple[int, ...]) -> tuple[ExpressionInterval, ...]:
        out = []
        for r in rows:
            try:
                onset = cell_to_int(r["onset"], r["where"], "onset", allow_missing=True)
                apex = cell_to_int(r["apex"], r["where"], "apex", allow_missing=True)
                offset = cell_to_int(r["offset"], r["where"], "offset", allow_missing=True)
                kind = _kind(r["type"], r["where"], "type") if "type" in r else "micro"
            except AnnotationError as exc:
                self.problem(r["where"], str(exc))
                continue
            found = self.interval(r["where"], onset, apex, offset, kind, r.get("label", ""), r.get("aus", ""), numbers)
            if found is not None:
                out.append(found)
        return tuple(sorted(out, key=lambda i: (i.onset, i.offset)))


@register_long_dataset("casme_sq")
class CASMESquared(_FramesMixin):
    """CAS(ME)^2 long videos (``CASME_sq``): 22 subjects, micro- and macro-expressions, 30 fps.

    Args:
        root: the ``CASME_sq`` folder.
        annotation: ``CAS(ME)^2code_final.xlsx`` when not in ``root``.
        fps: frame rate (default 30).
        strict: raise on the first bad row (default) or record it in :attr:`report`.
        variant: ``"rawpic"`` (frame folders, default) or ``"rawvideo"`` (``rawvideo/s15/15_0101*.avi``;
            frame ``n`` is the n-th decoded frame, 1-based, the numbering of ``rawpic``).
    """

    default_fps = 30.0

    def __init__(self, root: str | os.PathLike | None = None, *, annotation: str | os.PathLike | None = None,
                 fps: float | None = None, strict: bool = True, variant: str = "rawpic") -> None:
        super().__init__(root, annotation=annotation, fps=fps, strict=strict)
        if variant not in ("rawpic", "rawvideo"):
            raise ConfigError(f"casme_sq variant must be one of ['rawpic', 'rawvideo']; got {variant!r}.")
        self.variant = variant

    def _video_file(self, folder: str, code: str, where: str) -> LongVideo | None:
        subject_dir = self.root / "rawvideo" / f"s{folder}"
        matches = sorted(p for p in subject_dir.glob(f"{folder}_{code}*") if p.suffix.lower() in VIDEO_EXTENSIONS) \
            if subject_dir.is_dir() else []
        if not matches:
            self.problem(where, f"{where}: no video file {str(subject_dir)}/{folder}_{code}<name>.avi for subject "
                                f"s{folder} video {code}.", DatasetNotFoundError)
            return None
        try:
            n = len(VideoFile(matches[0], fps=self.fps))
        except FrameReadError as exc:
            self.problem(where, f"{where}: {exc}", FrameReadError)
            return None
        return LongVideo(self.name, f"s{folder}", matches[0].stem, self.fps, (), tuple(range(1, n + 1)), str(matches[0]))

    def _read(self) -> list[LongVideo]:
        path = _find_file(self.root, self.annotation, ("CAS(ME)^2code_final.xlsx", "*code_final*.xlsx"),
                          "the CAS(ME)^2 sheet CAS(ME)^2code_final.xlsx")
        sheets = list(_read_rows(path).items())
        if len(sheets) < 3:
            raise AnnotationError(f"{path.name}: expected 3 sheets (expressions, subject names, video names); "
                                  f"found {len(sheets)} ({[s for s, _ in sheets]!r}).")
        (name0, expressions), (name1, subject_rows), (name2, video_rows) = sheets[:3]
        subject_folder = {cell_to_text(r[2]): cell_to_text(r[1]) for r in subject_rows if len(r) >= 3 and r[1] is not None}
        video_code = {cell_to_text(r[1]): cell_to_text(r[0]).zfill(4) for r in video_rows if len(r) >= 2 and r[0] is not None}
        grouped: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for i, row in enumerate(expressions):
            where = f"{path.name} sheet {name0!r} row {i + 1}"
            if not row or all(cell_to_text(v) == "" for v in row):
                continue
            if len(row) < 8:
                self.problem(where, f"{where}: expected 9 columns (subject, video, onset, apex, offset, au, "
                                    f"emotion, type, selfReport); found {len(row)}.")
                continue
            subject, video = cell_to_text(row[0]), cell_to_text(row[1])
            if subject not in subject_folder:
                self.problem(where, f"{where}: column A subject {subject!r} is not in the subject sheet {name1!r} "
                                    f"(column C); known: {sorted(subject_folder)!r}.")
                continue
            name_code = video.split("_")[0]
            if name_code not in video_code:
                self.problem(where, f"{where}: column B video {video!r}: name {name_code!r} is not in the video "
                                    f"sheet {name2!r} (column B); known: {sorted(video_code)!r}.")
                continue
            grouped[(subject_folder[subject], video_code[name_code])].append(
                {"where": where, "onset": row[2], "apex": row[3], "offset": row[4], "aus": cell_to_text(row[5]),
                 "label": cell_to_text(row[6]), "type": cell_to_text(row[7])})
        videos = []
        for (folder, code), rows in sorted(grouped.items()):
            if self.variant == "rawvideo":
                found = self._video_file(folder, code, rows[0]["where"])
                if found is not None:
                    videos.append(replace(found, intervals=self._intervals(rows, found.frame_numbers)))
                continue
            subject_dir = self.root / "rawpic" / f"s{folder}"
            matches = sorted(subject_dir.glob(f"{folder}_{code}*")) if subject_dir.is_dir() else []
            if not matches:
                self.problem(rows[0]["where"], f"{rows[0]['where']}: no video folder {str(subject_dir)}/"
                             f"{folder}_{code}<name>/ for subject s{folder} video {code}.", DatasetNotFoundError)
                continue
            listing = self._listing(matches[0], r"img(\d+)" + IMAGE_SUFFIX, "img<N>.jpg", rows[0]["where"])
            if listing is None:
                continue
            videos.append(LongVideo(self.name, f"s{folder}", matches[0].name, self.fps, listing.paths, listing.numbers,
                                    None, self._intervals(rows, listing.numbers)))
        return videos


@register_long_dataset("samm_lv")
class SAMMLongVideos(_FramesMixin):
    """SAMM Long Videos: 147 videos of 32 subjects, micro- and macro-movements, 200 fps, greyscale.

    Args:
        root: the folder holding ``SAMM_longvideos/`` and the sheet.
        annotation: ``SAMM_LongVideos_V2_Release.xlsx`` when not in ``root``.
        fps: frame rate (default 200; SynthME long videos written at another rate need it here).
        strict: raise on the first bad row (default) or record it in :attr:`report`.
    """

    default_fps = 200.0

    def _read(self) -> list[LongVideo]:
        path = _find_file(self.root, self.annotation, ("SAMM_LongVideos*.xlsx", "*LongVideos*.xlsx"),
                          "the SAMM Long Videos sheet SAMM_LongVideos_V2_Release.xlsx")
        rows, _ = read_annotation(path, SAMM_LV_COLUMNS)
        grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
        subjects: dict[str, str] = {}
        for r in rows:
            filename = cell_to_text(r.values["filename"])
            match = re.fullmatch(r"(\d+)_(\d+)_\d+", filename)
            if match is None:
                self.problem(r.where, f"{r.where}: column 'Filename' must read <subject>_<inducement>_<k> "
                                      f"(e.g. '006_1_2'); got {filename!r}.")
                continue
            video = f"{match.group(1)}_{match.group(2)}"
            subjects[video] = match.group(1)
            grouped[video].append({"where": r.where, "onset": r.values["onset"], "apex": r.values["apex"],
                                   "offset": r.values["offset"], "type": cell_to_text(r.values["type"]),
                                   "aus": cell_to_text(r.values.get("action_units")),
                                   "label": cell_to_text(r.values.get("emotion"))})
        frames_root = self.root / "SAMM_longvideos"
        videos = []
        for video, vrows in sorted(grouped.items()):
            folder = find_child(frames_root, video)
            if folder is None:
                self.problem(vrows[0]["where"], f"{vrows[0]['where']}: video folder {str(frames_root / video)!r} "
                             f"does not exist; expected the frames {video}_<N>.jpg.", DatasetNotFoundError)
                continue
            listing = self._listing(folder, re.escape(video) + r"_(\d+)" + IMAGE_SUFFIX, f"{video}_<N>.jpg",
                                    vrows[0]["where"])
            if listing is None:
                continue
            videos.append(LongVideo(self.name, subjects[video], video, self.fps, listing.paths, listing.numbers,
                                    None, self._intervals(vrows, listing.numbers)))
        return videos


@register_long_dataset("casme3_long")
class CASME3Long(_FramesMixin):
    """CAS(ME)^3 Part A whole videos with their micro-expression intervals (30 fps).

    Args:
        root: the folder holding the JpgIndex workbook and ``part_A/spNO.<k>/`` (or ``spNO.<k>/``).
        annotation: ``cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx`` when not in ``root``.
        fps: frame rate (default 30).
        strict: raise on the first bad row (default) or record it in :attr:`report`.
    """

    default_fps = 30.0

    def _read(self) -> list[LongVideo]:
        path = _find_file(self.root, self.annotation, ("*part_A_ME_label*.xlsx", "annotation/partA/*part_A_ME_label*.xlsx"),
                          "the CAS(ME)^3 Part A label workbook (cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx)")
        rows, _ = read_annotation(path, CASME3A_COLUMNS, sheet="label")
        frames_root = self.root / "part_A" if (self.root / "part_A").is_dir() else self.root
        grouped: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for r in rows:
            subject = casme3_subject(r.values["subject"], r.where)
            video = cell_to_text(r.values["clip"]).lower()  # one row writes 'J' for folder 'j'
            grouped[(subject, video)].append({"where": r.where, "onset": r.values["onset"], "apex": r.values["apex"],
                                              "offset": r.values["offset"], "label": cell_to_text(r.values["emotion"]),
                                              "aus": cell_to_text(r.values.get("action_units"))})
        videos = []
        for (subject, video), vrows in sorted(grouped.items()):
            subject_dir = find_child(frames_root, subject)
            video_dir = find_child(subject_dir, video) if subject_dir is not None else None
            color = find_child(video_dir, "color") if video_dir is not None else None
            if color is None:
                self.problem(vrows[0]["where"], f"{vrows[0]['where']}: folder "
                             f"{str(frames_root / subject / video / 'color')!r} does not exist; expected the colour "
                             f"frames <N>.jpg of {subject} video {video!r}.", DatasetNotFoundError)
                continue
            listing = self._listing(color, r"(\d+)" + IMAGE_SUFFIX, "<N>.jpg", vrows[0]["where"])
            if listing is None:
                continue
            videos.append(LongVideo(self.name, subject, video, self.fps, listing.paths, listing.numbers, None,
                                    self._intervals(vrows, listing.numbers)))
        return videos

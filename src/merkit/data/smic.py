"""SMIC (Li et al., FG 2013): HS camera at 100 fps (164 clips, 16 subjects), VIS and NIR at 25 fps (71 clips, 8 subjects).

Folder tree of the non-E release (docs/datasets.md, "SMIC"), no annotation file::

    root/
      SMIC_all_raw/HS/                     # variant="raw"      (VIS/, NIR/ likewise)
        s1/micro/negative/s1_ne_01/image036230.bmp ...
        s20/non_micro/...                  # ignored: not micro-expressions
      SMIC_all_cropped/HS/                 # variant="cropped"
        s1/micro/negative/s1_ne_01/reg_image036230.bmp ...
      SMIC_all_cropped/VIS/s11/micro/positive/s11_po_01/reg_06524.bmp ...

Each non-E clip folder holds only the micro-expression frames: the label is
the emotion folder (flag ``label_from_folder``), onset and offset are the
first and last frame numbers present, and the apex comes from the apex
policy (flag ``apex_estimated``; SMIC annotates no apex).

With ``annotation=`` an SMIC-E workbook (``SMIC-HS-E_annotation.xlsx``,
sheet ``HS`` / ``VIS`` / ``NIR``) is read instead: one sample per
micro-expression (``OnsetF/OffsetF``, ``Onset2F/Offset2F``,
``Onset3F/Offset3F``; the second and third get clip ids ``<Filename>_me2``,
``<Filename>_me3``), frames from the long SMIC-E clips next to the workbook::

    HS_long/
      SMIC-HS-E_annotation.xlsx
      SMIC-HS-E/s20/s20_ne_01/image17581030.jpg ...   # subject folder s20 or s03 (padded) both accepted

Frame numbers are absolute (the sheet's ``OnsetF`` is the file's number), so
a sample's ``onset_index`` is ``OnsetF - (first frame on disk)``, 0-based.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from merkit.data._base import MEDataset
from merkit.data._reports import PublishedCounts
from merkit.data._excel import ColumnSpec, cell_to_text
from merkit.data._frames import IMAGE_SUFFIX, find_child
from merkit.data.registry import register_dataset
from merkit.errors import AnnotationError, ConfigError, DatasetNotFoundError, MerkitError

__all__ = ["SMIC", "SMICHS", "SMICVIS", "SMICNIR", "SMIC_E_COLUMNS", "smic_subject"]

#: SMIC-E sheet columns; up to three micro-expressions per row.
SMIC_E_COLUMNS = (
    ColumnSpec("subject", ("Subject",)),
    ColumnSpec("clip", ("Filename",)),
    ColumnSpec("onset", ("OnsetF",)),
    ColumnSpec("offset", ("OffsetF",)),
    ColumnSpec("onset2", ("Onset2F",), required=False),
    ColumnSpec("offset2", ("Offset2F",), required=False),
    ColumnSpec("onset3", ("Onset3F",), required=False),
    ColumnSpec("offset3", ("Offset3F",), required=False),
    ColumnSpec("emotion", ("Emotion",)),
)
_EMOTIONS = ("negative", "positive", "surprise")
_FRAME_PATTERN = (r"(?:reg_)?(?:image)?(\d+)" + IMAGE_SUFFIX, "image<N>.bmp / reg_image<N>.bmp / reg_<N>.bmp")
#: SMIC-E clip folders, tried in order next to the workbook (``{cam}``: the camera, ``HS``)
_E_CLIP_DIRS = ("SMIC-{cam}-E/{cam}", "SMIC-{cam}-E", "SMIC_{cam}_E", "{cam}")


def smic_subject(value: Any, where: str) -> str:
    """Folder name of an SMIC subject: ``20``, ``"s20"``, ``"s03"`` or ``"3"`` -> ``"s20"`` / ``"s3"`` (unpadded)."""
    match = re.fullmatch(r"s?0*(\d+)", cell_to_text(value), re.IGNORECASE)
    if not match:
        raise AnnotationError(f"{where}: SMIC subject must look like 's1', 's01' or 1; got {value!r}.")
    return f"s{int(match.group(1))}"


class SMIC(MEDataset):
    """SMIC loader for one camera; use the registered :class:`SMICHS`, :class:`SMICVIS`, :class:`SMICNIR`.

    Args:
        root: the ``SMIC`` folder (tree in the module docstring).
        variant: ``"raw"`` (``SMIC_all_raw``) or ``"cropped"`` (``SMIC_all_cropped``); ``None`` (default):
            detected (the one present; ``root`` may also be ``SMIC_all_raw`` or ``SMIC_all_raw/HS`` itself),
            the documented default when both are present. Ignored with ``annotation``.
        annotation: an SMIC-E workbook; when given, samples come from it (one per micro-expression).
        frames_dir: the camera folder (holding ``s1/``, ...) or, with ``annotation``,
            the SMIC-E clip folder, when not at the usual place.
        apex_policy, corrections, strict: see :class:`~merkit.data._base.MEDataset`.
    """

    camera: ClassVar[str] = ""
    has_apex: ClassVar[bool] = False
    #: the camera folders of each variant (``{cam}``: ``HS``, ``VIS`` or ``NIR``; ``{low}``: lower case)
    frame_dirs = {"raw": ("SMIC_all_raw/{cam}", "SMIC_all_raw/{low}"), "cropped": ("SMIC_all_cropped/{cam}", "SMIC_all_cropped/{low}")}
    subject_pattern = r"s\d+"
    default_variant = "cropped"

    def _locate(self, variant: str | None, annotation: str | os.PathLike | None, frames_dir: str | os.PathLike | None) -> None:
        cam = self.camera
        if annotation is None:
            self.annotation = None
            folders = {v: tuple(n.format(cam=cam, low=cam.lower()) for n in names) for v, names in self.frame_dirs.items()}
            if frames_dir is None and not any((self.root / n).is_dir() for names in folders.values() for n in names):
                # root is SMIC_all_raw/ or SMIC_all_cropped/ (holding HS/, VIS/, NIR/): its camera folder
                frames_dir = next((self.root / n for n in (cam, cam.lower()) if (self.root / n).is_dir()), None)
            self.variant, self.frames_dir = self._find_layout(
                variant, folders, self.subject_pattern, f"SMIC {cam}", frames_dir, prefer=self.default_variant
            )
        else:
            if variant is not None and variant not in ("raw", "cropped"):
                raise ConfigError(f"SMIC variant {variant!r} is unknown; valid variants: ['cropped', 'raw'].")
            self.variant = variant or "raw"  # SMIC-E ships raw long clips only
            self.annotation = self._find_annotation(annotation, (), f"an SMIC-{cam}-E annotation workbook")
            if self.annotation is None:  # not found: recorded by collect_setup_problems
                self.frames_dir = None
                return
            if frames_dir is None:
                parent = self.annotation.parent
                for name in (n.format(cam=cam) for n in _E_CLIP_DIRS):
                    if (parent / name).is_dir():
                        frames_dir = parent / name
                        break
            self.frames_dir = self._find_dir((), f"SMIC-{cam}-E clip folder (SMIC-{cam}-E/ next to the workbook)", frames_dir or self.annotation.parent / f"SMIC-{cam}-E")

    @property
    def published(self) -> PublishedCounts | None:  # type: ignore[override]
        counts = {"HS": (164, 16), "VIS": (71, 8), "NIR": (71, 8)}[self.camera]
        if self.annotation is not None:
            return None  # SMIC-E sheets differ between copies (162/157 rows, 2-3 MEs per row)
        return PublishedCounts(*counts, 'official SMIC page (docs/datasets.md, "SMIC")')

    def _read_rows(self) -> list[dict[str, Any]]:
        if self.annotation is not None:
            return self._read_e_sheet()
        return self._walk_folders() if self.frames_dir is not None else []  # None: reported by collect_setup_problems

    def _walk_folders(self) -> list[dict[str, Any]]:
        out = []
        subjects = sorted(
            (p for p in self.frames_dir.iterdir() if p.is_dir() and re.fullmatch(r"s\d+", p.name, re.IGNORECASE)),
            key=lambda p: int(p.name[1:]),
        )
        if not subjects:
            raise DatasetNotFoundError(
                f"SMIC {self.camera} folder {str(self.frames_dir)!r} holds no subject folders; expected s1/, s2/, ... "
                f"each with micro/<negative|positive|surprise>/<clip>/."
            )
        for subject_dir in subjects:
            micro = find_child(subject_dir, "micro")
            if micro is None:
                # subjects without micro-expressions only have non_micro/ (ignored by design)
                continue
            for emotion_dir in sorted(p for p in micro.iterdir() if p.is_dir()):
                emotion = emotion_dir.name
                if emotion.casefold() not in _EMOTIONS:
                    self.report.add("error", str(emotion_dir), f"SMIC folder {str(emotion_dir)!r}: unknown emotion folder {emotion!r}; expected one of {list(_EMOTIONS)!r}.")
                    continue
                for clip_dir in sorted(p for p in emotion_dir.iterdir() if p.is_dir()):
                    where = str(clip_dir)
                    row: dict[str, Any] = {
                        "subject": smic_subject(subject_dir.name, where),
                        "clip": clip_dir.name,
                        "emotion": emotion,
                        "action_units": "",
                        "apex": None,
                        "where": where,
                        "folder": clip_dir,
                        "flags": {"label_from_folder"},
                    }
                    try:
                        listing = self._listing(clip_dir, row)
                    except MerkitError as exc:
                        self.report.add("error", where, str(exc), type(exc))
                        continue
                    row["onset"], row["offset"] = listing.numbers[0], listing.numbers[-1]
                    out.append(row)
        return out

    def _read_e_sheet(self) -> list[dict[str, Any]]:
        out = []
        for values in self._sheet_rows(SMIC_E_COLUMNS, smic_subject, sheet=self.camera):
            subject, clip, where, columns = values["subject"], values["clip"], values["where"], values["columns"]
            for k, suffix in ((1, ""), (2, "2"), (3, "3")):
                onset, offset = values.get(f"onset{suffix}"), values.get(f"offset{suffix}")
                if k > 1 and not cell_to_text(onset) and not cell_to_text(offset):
                    continue
                out.append({
                    "subject": subject,
                    "clip": clip if k == 1 else f"{clip}_me{k}",
                    "folder_name": clip,
                    "onset": onset,
                    "offset": offset,
                    "apex": None,
                    "emotion": values["emotion"],
                    "action_units": "",
                    "where": where + ("" if k == 1 else f" (micro-expression {k})"),
                    "columns": {"onset": columns.get(f"onset{suffix}"), "offset": columns.get(f"offset{suffix}")},
                })
        return out

    def _clip_folder(self, row: Mapping[str, Any]) -> Path:
        number = int(row["subject"][1:])
        tried = []
        for subject_name in (f"s{number}", f"s{number:02d}"):
            subject_dir = find_child(self.frames_dir, subject_name)
            tried.append(str(self.frames_dir / subject_name))
            if subject_dir is None:
                continue
            name = row["folder_name"]
            for clip_name in (name, re.sub(r"^s0*(\d+)_", lambda m: f"s{int(m.group(1))}_", name), re.sub(r"^s0*(\d+)_", lambda m: f"s{int(m.group(1)):02d}_", name)):
                folder = find_child(subject_dir, clip_name)
                if folder is not None and folder.is_dir():
                    return folder
        raise DatasetNotFoundError(
            f"{row['where']}: no clip folder for {row['folder_name']!r}; expected {tried[0]}/{row['folder_name']}/ "
            f"(subject folder s{number} or s{number:02d})."
        )

    def _frame_pattern(self, row: Mapping[str, Any]) -> tuple[str, str]:
        return _FRAME_PATTERN


@register_dataset("smic_hs")
class SMICHS(SMIC):
    """SMIC high-speed camera, 100 fps."""

    name: ClassVar[str] = "smic_hs"
    camera: ClassVar[str] = "HS"
    fps = 100.0


@register_dataset("smic_vis")
class SMICVIS(SMIC):
    """SMIC visual camera, 25 fps."""

    name: ClassVar[str] = "smic_vis"
    camera: ClassVar[str] = "VIS"
    fps = 25.0


@register_dataset("smic_nir")
class SMICNIR(SMIC):
    """SMIC near-infrared camera, 25 fps."""

    name: ClassVar[str] = "smic_nir"
    camera: ClassVar[str] = "NIR"
    fps = 25.0

"""Macro-expression image sets for transfer learning (seed 003): CK+, Oulu-CASIA VIS, JAFFE, MUG, image folders.

Seed 003 (Liu et al., 2022) pre-trains MobileViT on 9,342 still images of
posed macro-expressions, mapped to three classes, before fine-tuning on
micro-expressions. Each loader here reads one set in its published layout and
returns a *macro image table*, one row per image (:data:`MACRO_TABLE_COLUMNS`).
Nothing is modified or copied; the paths point at the user's files.

Layouts (the roots are the folders the licence holders ship):

* **CK+** (Lucey et al., 2010): ``cohn-kanade-images/S005/001/S005_001_00000011.png``
  and ``Emotion/S005/001/S005_001_00000011_emotion.txt`` holding one number,
  0=neutral 1=anger 2=contempt 3=disgust 4=fear 5=happy 6=sadness 7=surprise.
  Only the 327 sequences with an emotion file are labelled; the file names
  the sequence's last (peak) frame. Kept: the ``frames_per_sequence`` frames
  ending at that frame (the paper's "last three frames").
* **Oulu-CASIA NIR&VIS** (Zhao et al., 2011): ``OriginalImg/VL/Strong/P001/Happiness/000.jpeg``
  (``VL`` visible light, ``NI`` near-infrared; ``Strong``/``Weak``/``Dark``
  illumination; ``Cropped`` instead of ``OriginalImg`` for the cropped
  release). Sequences run from neutral to the peak; kept: the last
  ``frames_per_sequence`` frames of each VIS sequence (paper: 3).
* **JAFFE** (Lyons et al., 1998): flat folder of ``KA.AN1.39.tiff``: poser
  initials, expression code (AN, DI, FE, HA, NE, SA, SU) with a repetition
  digit, image number. One row per image (all are peaks).
* **MUG** (Aifanti et al., 2010): ``subjects3/001/happiness/take000/img_0042.jpg``
  (posed part; ``root`` may be ``subjects3`` itself). Sequences go neutral ->
  apex -> neutral and the apex is not annotated; kept: the
  ``frames_per_sequence`` frames centred on the middle frame (the paper takes
  "six to 10 frames close to the vertex"; named option ``apex="middle"`` is
  the reconstruction, the only one available without annotations).
* **Image folder**: ``root/<class or emotion>/<image>``, one folder per class
  (torchvision ``ImageFolder`` style). The subject is the file name's text
  before ``subject_sep`` (``s03_0001.png`` -> ``s03``), so transfer-time
  validation can still hold out whole subjects; ``subject_sep=""`` makes
  every image its own subject.

The 3-class mapping is package data: label set ``macro3`` in
``label_maps.json`` (negative = anger, disgust, sadness as in the paper;
fear, contempt and neutral are dropped). :func:`load_macro` applies it.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from merkit._options import unknown_name
from merkit.data._excel import read_text
from merkit.data.labels import get_label_set
from merkit.errors import AnnotationError, ConfigError, DatasetNotFoundError

__all__ = [
    "MACRO_TABLE_COLUMNS",
    "CKPLUS_EMOTIONS",
    "JAFFE_CODES",
    "IMAGE_SUFFIXES",
    "load_ckplus",
    "load_oulu_casia",
    "load_jaffe",
    "load_mug",
    "load_image_folder",
    "load_macro",
    "list_macro_datasets",
]

log = logging.getLogger(__name__)

#: Columns of a macro image table, in order.
MACRO_TABLE_COLUMNS = ("image_key", "dataset", "subject", "subject_key", "sequence", "frame", "path", "emotion", "label")
#: CK+ ``Emotion/*_emotion.txt`` codes (CK+ README).
CKPLUS_EMOTIONS = {0: "neutral", 1: "anger", 2: "contempt", 3: "disgust", 4: "fear", 5: "happiness", 6: "sadness",
                   7: "surprise"}
#: JAFFE file-name expression codes.
JAFFE_CODES = {"AN": "anger", "DI": "disgust", "FE": "fear", "HA": "happiness", "NE": "neutral", "SA": "sadness",
               "SU": "surprise"}
#: Image file suffixes the folder loaders read (lower case).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
_OULU_EMOTIONS = ("anger", "disgust", "fear", "happiness", "sadness", "surprise")
_MUG_EMOTIONS = ("anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise")
_JAFFE_NAME = re.compile(r"^(?P<subject>[A-Z]{2})\.(?P<code>[A-Z]{2})(?P<rep>\d)\.(?P<number>\d+)$")
_DIGITS = re.compile(r"(\d+)(?!.*\d)")
_CKPLUS_LABEL_NAME = re.compile(r"[^_]+_[^_]+_(\d+)_emotion\.txt", re.ASCII)


def _root(root: str | os.PathLike, what: str, expected: str) -> Path:
    path = Path(root)
    if not path.is_dir():
        raise DatasetNotFoundError(f"{what} root {str(path)!r} is not a folder; expected the folder holding {expected}.")
    return path


def _frame_number(path: Path) -> int:
    match = _DIGITS.search(path.stem)
    if match is None:
        raise AnnotationError(f"frame file {str(path)!r} has no number in its name; expected e.g. img_0042.jpg.")
    return int(match.group(1))


def _images(folder: Path) -> list[Path]:
    """Image files of ``folder`` in numeric frame order."""
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    return sorted(files, key=lambda p: (_frame_number(p), p.name))


def _row(dataset: str, subject: str, sequence: str, frame: int, path: Path, emotion: str) -> dict:
    return {"image_key": f"{dataset}/{subject}/{sequence}/{frame}", "dataset": dataset, "subject": subject,
            "subject_key": f"{dataset}/{subject}", "sequence": sequence, "frame": int(frame), "path": str(path),
            "emotion": emotion, "label": None}


def _table(rows: list[dict], what: str, root: Path) -> pd.DataFrame:
    if not rows:
        raise DatasetNotFoundError(f"{what}: no labelled images found under {str(root)!r}; check the layout "
                                   f"(see merkit.data.macro's docstring).")
    table = pd.DataFrame(rows, columns=list(MACRO_TABLE_COLUMNS))
    return table.sort_values(["subject", "sequence", "frame"], kind="stable").reset_index(drop=True)


def _check_k(frames_per_sequence: int) -> None:
    if not isinstance(frames_per_sequence, int) or frames_per_sequence < 1:
        raise ConfigError(f"frames_per_sequence must be a positive integer; got {frames_per_sequence!r}.")


def load_ckplus(root: str | os.PathLike, frames_per_sequence: int = 3) -> pd.DataFrame:
    """CK+ labelled sequences, their last ``frames_per_sequence`` frames.

    Raises:
        DatasetNotFoundError: ``root`` lacks ``cohn-kanade-images`` or ``Emotion``, or a labelled
            sequence has no image folder.
        AnnotationError: an emotion file does not hold one code 0-7, or its frame is not on disk.
    """
    _check_k(frames_per_sequence)
    root = _root(root, "CK+", "cohn-kanade-images/ and Emotion/")
    images, emotions = root / "cohn-kanade-images", root / "Emotion"
    for folder in (images, emotions):
        if not folder.is_dir():
            raise DatasetNotFoundError(f"CK+ folder {str(folder)!r} does not exist; the CK+ root must hold "
                                       f"cohn-kanade-images/ and Emotion/.")
    rows = []
    for label_file in sorted(emotions.glob("*/*/*_emotion.txt")):
        subject, sequence = label_file.parent.parent.name, label_file.parent.name
        text = read_text(label_file, "a CK+ emotion file holding one code 0-7").split()
        try:
            code = float(text[0]) if len(text) == 1 else None
        except ValueError:
            code = None
        if code is None or not code.is_integer() or int(code) not in CKPLUS_EMOTIONS:
            raise AnnotationError(f"CK+ emotion file {str(label_file)!r} holds {' '.join(text)!r}; expected one "
                                  f"code 0-7 (e.g. '3.0000000e+00').")
        name = _CKPLUS_LABEL_NAME.fullmatch(label_file.name)
        if name is None:
            raise AnnotationError(f"CK+ emotion file {str(label_file)!r}: expected a name <subject>_<sequence>_<frame "
                                  f"number>_emotion.txt (e.g. S005_001_00000011_emotion.txt).")
        peak = int(name.group(1))
        folder = images / subject / sequence
        if not folder.is_dir():
            raise DatasetNotFoundError(f"CK+ image folder {str(folder)!r} is missing for the labelled sequence "
                                       f"{str(label_file)!r}.")
        frames = [p for p in _images(folder) if _frame_number(p) <= peak]
        if not frames or _frame_number(frames[-1]) != peak:
            raise AnnotationError(f"CK+ emotion file {str(label_file)!r} labels frame {peak}, which is not in "
                                  f"{str(folder)!r}.")
        emotion = CKPLUS_EMOTIONS[int(code)]
        rows += [_row("ck_plus", subject, sequence, _frame_number(p), p, emotion) for p in frames[-frames_per_sequence:]]
    return _table(rows, "CK+", root)


def load_oulu_casia(
    root: str | os.PathLike,
    frames_per_sequence: int = 3,
    system: str = "VL",
    illumination: str = "Strong",
    variant: str = "OriginalImg",
) -> pd.DataFrame:
    """Oulu-CASIA NIR&VIS sequences of one imaging system and illumination, their last frames.

    Args:
        root: folder holding ``OriginalImg/`` (or ``Cropped/``).
        frames_per_sequence: frames kept from the end of each sequence (paper: 3).
        system: ``"VL"`` (visible, the paper's choice) or ``"NI"`` (near-infrared).
        illumination: ``"Strong"``, ``"Weak"`` or ``"Dark"``.
        variant: ``"OriginalImg"`` or ``"Cropped"``.

    Raises:
        DatasetNotFoundError: the ``variant/system/illumination`` folder is missing.
        AnnotationError: an expression folder whose name is not one of the six expressions.
    """
    _check_k(frames_per_sequence)
    for name, value, choices in (("system", system, ("VL", "NI")), ("illumination", illumination,
                                 ("Strong", "Weak", "Dark")), ("variant", variant, ("OriginalImg", "Cropped"))):
        if value not in choices:
            raise unknown_name(f"Oulu-CASIA {name}", value, choices)
    root = _root(root, "Oulu-CASIA", f"{variant}/")
    base = root / variant / system / illumination
    if not base.is_dir():
        raise DatasetNotFoundError(f"Oulu-CASIA folder {str(base)!r} does not exist; expected "
                                   f"{variant}/{system}/{illumination}/P001/Happiness/000.jpeg under the root.")
    rows = []
    for subject_dir in sorted(p for p in base.iterdir() if p.is_dir()):
        for expr_dir in sorted(p for p in subject_dir.iterdir() if p.is_dir()):
            emotion = expr_dir.name.strip().casefold()
            if emotion not in _OULU_EMOTIONS:
                raise AnnotationError(f"Oulu-CASIA folder {str(expr_dir)!r} is not an expression; expected one "
                                      f"of {sorted(e.capitalize() for e in _OULU_EMOTIONS)!r}.")
            frames = _images(expr_dir)
            rows += [_row("oulu_casia", subject_dir.name, expr_dir.name, _frame_number(p), p, emotion)
                     for p in frames[-frames_per_sequence:]]
    return _table(rows, "Oulu-CASIA", root)


def load_jaffe(root: str | os.PathLike) -> pd.DataFrame:
    """JAFFE images, labelled by the expression code of their file name.

    Raises:
        AnnotationError: a TIFF whose name does not follow ``KA.AN1.39.tiff`` or has an unknown code.
    """
    root = _root(root, "JAFFE", "the KA.AN1.39.tiff images")
    rows = []
    for path in sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in (".tiff", ".tif")):
        match = _JAFFE_NAME.match(path.stem)
        if match is None or match["code"] not in JAFFE_CODES:
            raise AnnotationError(f"JAFFE file {str(path)!r} does not follow <poser>.<code><n>.<number>.tiff "
                                  f"with code in {sorted(JAFFE_CODES)!r} (e.g. KA.AN1.39.tiff).")
        rows.append(_row("jaffe", match["subject"], f"{match['code']}{match['rep']}", int(match["number"]), path,
                         JAFFE_CODES[match["code"]]))
    return _table(rows, "JAFFE", root)


def load_mug(root: str | os.PathLike, frames_per_sequence: int = 8, apex: str = "middle") -> pd.DataFrame:
    """MUG posed sequences (``subjects3``), the frames around the apex.

    Args:
        root: the MUG folder holding ``subjects3/`` (or ``subjects3`` itself).
        frames_per_sequence: frames kept per take (paper: 6 to 10).
        apex: ``"middle"``: the apex is the middle frame of the take (module docstring).

    Raises:
        DatasetNotFoundError: no ``subjects3`` layout under ``root``.
        AnnotationError: an emotion folder with an unknown name.
    """
    _check_k(frames_per_sequence)
    if apex != "middle":
        raise unknown_name("MUG apex rule", apex, ("middle",))
    root = _root(root, "MUG", "subjects3/")
    base = root / "subjects3" if (root / "subjects3").is_dir() else root
    rows = []
    for subject_dir in sorted(p for p in base.iterdir() if p.is_dir() and p.name.isdigit()):
        for expr_dir in sorted(p for p in subject_dir.iterdir() if p.is_dir()):
            emotion = expr_dir.name.strip().casefold()
            if emotion not in _MUG_EMOTIONS:
                raise AnnotationError(f"MUG folder {str(expr_dir)!r} is not an expression; expected one of "
                                      f"{list(_MUG_EMOTIONS)!r}.")
            for take in sorted(p for p in expr_dir.iterdir() if p.is_dir()):
                frames = _images(take)
                if not frames:
                    continue
                middle = len(frames) // 2
                start = max(0, min(middle - frames_per_sequence // 2, len(frames) - frames_per_sequence))
                rows += [_row("mug", subject_dir.name, f"{expr_dir.name}/{take.name}", _frame_number(p), p, emotion)
                         for p in frames[start : start + frames_per_sequence]]
    if not rows and not any(p.is_dir() and p.name.isdigit() for p in base.iterdir()):
        raise DatasetNotFoundError(f"MUG root {str(root)!r} holds no subjects3/<subject>/<emotion>/<take>/ folders.")
    return _table(rows, "MUG", root)


def load_image_folder(root: str | os.PathLike, dataset: str = "image_folder", subject_sep: str = "_") -> pd.DataFrame:
    """A class-per-folder image set: ``root/<class>/<image>``.

    Args:
        root: the folder holding one sub-folder per class (or emotion).
        dataset: the ``dataset`` column value; the ``macro3`` label set maps ``image_folder`` and
            ``synthme_macro`` folder names.
        subject_sep: the subject is the file stem's text before this separator ("" : one subject per image).

    Raises:
        DatasetNotFoundError: ``root`` has no class folder with images.
    """
    root = _root(root, "image folder", "one sub-folder of images per class")
    rows = []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        for path in sorted(p for p in class_dir.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES):
            subject = path.stem.split(subject_sep)[0] if subject_sep else path.stem
            rows.append(_row(dataset, subject, f"{class_dir.name}/{path.stem}", 0, path, class_dir.name.casefold()))
    return _table(rows, f"image folder {dataset!r}", root)


_LOADERS: dict[str, Callable[..., pd.DataFrame]] = {
    "ck_plus": load_ckplus,
    "oulu_casia": load_oulu_casia,
    "jaffe": load_jaffe,
    "mug": load_mug,
    "image_folder": load_image_folder,
}


def list_macro_datasets() -> list[str]:
    """Names accepted by :func:`load_macro`."""
    return sorted(_LOADERS)


def load_macro(name: str, root: str | os.PathLike, label_set: str = "macro3", **options) -> pd.DataFrame:
    """Load one macro-expression set and label it.

    Args:
        name: one of :func:`list_macro_datasets`.
        root: the set's folder.
        label_set: packaged label set applied to ``emotion`` (rows it drops are removed).
        **options: loader options (``frames_per_sequence``, ``system``, ...).

    Returns:
        The labelled macro image table (:data:`MACRO_TABLE_COLUMNS`).
    """
    if name not in _LOADERS:
        raise unknown_name("macro-expression dataset", name, _LOADERS)
    try:
        table = _LOADERS[name](root, **options)
    except TypeError as exc:
        raise ConfigError(f"macro dataset {name!r}: bad option(s) {sorted(options)!r} ({exc}).") from None
    labelled = get_label_set(label_set).apply(table)
    log.info("%s: %d images, %d kept by %s (%s)", name, len(table), len(labelled), label_set,
             labelled["label"].value_counts().to_dict())
    return labelled

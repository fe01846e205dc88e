"""Which frame layout a dataset root holds (raw or cropped), found from the folders on disk.

CASME II, CASME and SMIC ship raw and cropped frames in sibling folders
(``CASME2_RAW_selected/`` vs ``Cropped/``, ``SMIC_all_raw/`` vs
``SMIC_all_cropped/``), and users point merkit at either the dataset folder or
straight at one frames folder (``SMIC_all_raw/HS``). With ``variant=None``
the loaders call :func:`detect_layout`:

1. ``frames_dir`` given: that folder; the variant from its frame names
   (``reg_`` prefix = cropped) or, failing that, from its own or its parent's name.
2. Exactly one variant's folder exists under the root: that one.
3. The root itself holds subject folders (``sub01/``, ``s1/``): the root is the
   frames folder; the variant as in 1.
4. Both variants' folders exist: the loader's documented default (``prefer``;
   CASME II and CASME raw, SMIC cropped, 4DME gray), logged; without one, a
   :class:`~merkit.errors.ConfigError` naming both and asking for ``variant=``.
   A frames folder whose frame names do not tell the variant is the same error.
5. Nothing found: a :class:`~merkit.errors.DatasetNotFoundError` listing the folders tried.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from merkit.errors import ConfigError, DatasetNotFoundError

__all__ = ["detect_layout", "variant_from_names"]

logger = logging.getLogger(__name__)
_IMAGE = re.compile(r".*\.(?:jpe?g|png|bmp|tiff?)", re.IGNORECASE)


def _first_image(folder: Path, depth: int = 5) -> str | None:
    """Name of the first image file found within ``depth`` levels below ``folder`` (sorted walk)."""
    base = len(folder.parts)
    for current, dirs, files in os.walk(folder):
        dirs.sort()
        if len(Path(current).parts) - base >= depth:
            dirs[:] = []
        for name in sorted(files):
            if _IMAGE.fullmatch(name):
                return name
    return None


def variant_from_names(folder: Path, variants: Sequence[str], cropped_prefix: str = "reg_") -> str | None:
    """``"cropped"`` or ``"raw"`` from the frame names under ``folder`` (or the folder's own path), else ``None``.

    The cropped releases prefix every frame with ``reg_`` (``reg_img46.jpg``,
    ``reg_image036230.bmp``); raw frames do not. When no image is found, the folder's
    own name or its parent's (``SMIC_all_raw/HS``, ``Cropped``) decides, as whole words.
    """
    if not {"raw", "cropped"} <= set(variants):
        return None
    name = _first_image(folder)
    if name is not None:
        return "cropped" if name.casefold().startswith(cropped_prefix) else "raw"
    tokens = {t for part in folder.parts[-2:] for t in re.split(r"[^0-9a-z]+", part.casefold())}
    if tokens & {"crop", "cropped"}:
        return "cropped"
    if "raw" in tokens:
        return "raw"
    return None


def _holds_subjects(folder: Path, subject_pattern: str) -> bool:
    try:
        return any(p.is_dir() and re.fullmatch(subject_pattern, p.name, re.IGNORECASE) for p in folder.iterdir())
    except OSError:
        return False


def detect_layout(
    root: Path,
    folders: Mapping[str, Sequence[str]],
    subject_pattern: str,
    what: str,
    variant: str | None = None,
    frames_dir: str | os.PathLike | None = None,
    prefer: str | None = None,
) -> tuple[str, Path]:
    """The frame variant and the folder holding the subject folders.

    Args:
        root: the dataset root.
        folders: ``{variant: folder names relative to root, most usual first}``.
        subject_pattern: regex of a subject folder name (``sub\\d+``, ``s\\d+``).
        what: the dataset's name for messages (``"CASME II"``).
        variant: the variant asked for, or ``None`` to detect it.
        frames_dir: a frames folder given by the user (overrides the search).
        prefer: the variant used when several are present (``None``: that is an error).

    Returns:
        ``(variant, frames folder)``.

    Raises:
        ConfigError: ``variant`` is unknown, or it is ``None`` and both variants are present
            (or the frame names do not tell them apart).
        DatasetNotFoundError: no frames folder found.
    """
    valid = sorted(folders)
    if variant is not None and variant not in folders:
        raise ConfigError(f"{what} variant {variant!r} is unknown; valid variants: {valid!r} (or leave it unset to detect it).")
    if frames_dir is not None:
        path = Path(frames_dir).expanduser()
        if not path.is_dir():
            raise DatasetNotFoundError(f"frames folder {str(path)!r} does not exist; expected the {what} folder holding the subject folders.")
        return variant or _named_variant(path, folders, what), path
    if variant is not None:
        for name in folders[variant]:
            if (root / name).is_dir():
                return variant, root / name
        if _holds_subjects(root, subject_pattern) and variant_from_names(root, valid) in (None, variant):
            return variant, root
        raise DatasetNotFoundError(
            f"dataset root {str(root)!r} has no {what} {variant} frames folder; looked for {list(folders[variant])!r} "
            f"and for subject folders in the root itself. Pass frames_dir=PATH if your copy differs."
        )
    found = {v: next((root / n for n in names if (root / n).is_dir()), None) for v, names in folders.items()}
    present = {v: p for v, p in found.items() if p is not None}
    if len(present) == 1:
        return next(iter(present.items()))
    if len(present) > 1 and prefer in present:
        logger.info("%s root %s holds %s frames; using %r (pass variant= to choose)", what, root, sorted(present), prefer)
        return prefer, present[prefer]
    if len(present) > 1:
        listed = ", ".join(f"{v}: {str(p)!r}" for v, p in sorted(present.items()))
        raise ConfigError(
            f"{what} root {str(root)!r} holds several frame layouts ({listed}); pass variant= one of "
            f"{sorted(present)!r} (in a config: {{root = ..., variant = \"{sorted(present)[0]}\"}})."
        )
    if _holds_subjects(root, subject_pattern):
        return _named_variant(root, folders, what), root
    tried = [n for names in folders.values() for n in names]
    raise DatasetNotFoundError(
        f"dataset root {str(root)!r} has no {what} frames folder; looked for {tried!r} and for subject folders "
        f"matching {subject_pattern!r} in the root itself. Pass frames_dir=PATH if your copy differs."
    )


def _named_variant(folder: Path, folders: Mapping[str, Sequence[str]], what: str) -> str:
    if len(folders) == 1:
        return next(iter(folders))
    detected = variant_from_names(folder, sorted(folders))
    if detected is None:
        raise ConfigError(
            f"cannot tell which {what} frame variant {str(folder)!r} holds (no frame names with or without the reg_ "
            f"prefix, no raw/cropped folder name); pass variant= one of {sorted(folders)!r}."
        )
    return detected

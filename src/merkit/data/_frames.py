"""Frame files of one clip folder, listed by the frame number parsed from each name.

The number in a frame's file name is the dataset's frame number (CASME II
``img46.jpg`` is ``OnsetFrame`` 46). Names are not zero-padded consistently
(``img99.jpg`` sorts after ``img100.jpg`` as text; SAMM pads to 4 or 5
digits; SMIC-E reaches 8 digits), so frames are parsed with a regex and
ordered by number, never by text or by position (docs/datasets.md, "Rules
every loader follows": frames by parsed number).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from merkit.errors import AnnotationError, DatasetNotFoundError

__all__ = ["FrameListing", "list_frames", "find_child", "check_name", "ensure_inside", "IMAGE_SUFFIX"]

#: Image suffixes accepted in frame names (regex fragment, case-insensitive).
IMAGE_SUFFIX = r"\.(?:jpe?g|png|bmp|tiff?)"


@dataclass(frozen=True)
class FrameListing:
    """The frames of one folder, ordered by frame number.

    Attributes:
        folder: the clip folder.
        numbers: frame numbers, strictly increasing.
        paths: absolute file paths, parallel to ``numbers``.
    """

    folder: Path
    numbers: tuple[int, ...]
    paths: tuple[str, ...]

    def span(self, first: int, last: int) -> tuple[tuple[int, ...], tuple[str, ...]]:
        """Frames whose number lies in ``[first, last]`` (inclusive), as ``(numbers, paths)``."""
        keep = [i for i, n in enumerate(self.numbers) if first <= n <= last]
        return tuple(self.numbers[i] for i in keep), tuple(self.paths[i] for i in keep)


def check_name(value: str, where: str, column: str) -> str:
    """``value`` if it is a plain file or folder name, else an error naming ``where`` and ``column``.

    Annotation cells become folder names (``frames_dir/<subject>/<clip>``). A cell
    holding ``..``, ``.``, an absolute path, a separator (``/`` or ``\\``), a NUL
    character or more than 255 bytes could point outside the dataset root or
    crash the file system call, so it is rejected before any path is built.

    Raises:
        AnnotationError: ``value`` is not a plain name.
    """
    text = str(value)
    bad = (
        "it is empty" if not text.strip() else
        "it is '.' or '..'" if text.strip() in (".", "..") else
        "it contains a path separator" if "/" in text or "\\" in text else
        "it contains a NUL character" if "\x00" in text else
        "it is longer than 255 bytes" if len(text.encode("utf-8", "surrogatepass")) > 255 else
        ""
    )
    if bad:
        raise AnnotationError(
            f"{where}: column {column!r} holds {value!r}, which is not a plain folder name ({bad}); expected a "
            f"name such as 'sub01' or 'EP02_01f' (annotation cells may not point outside the dataset root)."
        )
    return text


def ensure_inside(path: Path, bases: tuple[Path, ...], where: str, what: str) -> Path:
    """``path`` if it resolves (symlinks followed) inside one of ``bases``, else an error naming ``where``.

    Raises:
        AnnotationError: ``path`` (or a symlink on the way) leads outside every base.
    """
    real = Path(os.path.realpath(path))
    for base in bases:
        real_base = Path(os.path.realpath(base))
        if real == real_base or real_base in real.parents:
            return path
    raise AnnotationError(
        f"{where}: {what} {str(path)!r} resolves to {str(real)!r}, outside the dataset root "
        f"{str(bases[0])!r}; merkit never reads outside it. Replace the symlink by the folder, or pass "
        f"frames_dir= the folder that really holds the frames."
    )


def list_frames(
    folder: str | os.PathLike, pattern: str, describe: str, inside: tuple[Path, ...] = (), where: str = ""
) -> FrameListing:
    """List the frame files of ``folder`` whose names match ``pattern``, ordered by number.

    Args:
        folder: clip folder.
        pattern: regex with one group capturing the frame number, matched
            against the whole file name, case-insensitive (e.g. ``r"img(\\d+)\\.jpg"``).
        describe: the expected naming for messages (``"img<N>.jpg"``).
        inside: when given, a frame file that is a symlink must resolve inside one of these folders.
        where: the annotation row, for messages.

    Returns:
        The listing; files not matching ``pattern`` (``Thumbs.db``, depth maps) are ignored.

    Raises:
        DatasetNotFoundError: ``folder`` does not exist.
        AnnotationError: no file matches, or two files carry the same number
            (``img7.jpg`` and ``img007.jpg``); the message names the folder.
    """
    path = Path(folder).absolute()
    folder = str(path)
    if not path.is_dir():
        raise DatasetNotFoundError(f"clip folder {folder!r} does not exist; expected a folder of {describe} frames.")
    regex = re.compile(pattern, re.IGNORECASE)
    found: dict[int, str] = {}
    others = []
    for entry in os.scandir(path):
        match = regex.fullmatch(entry.name) if entry.is_file() else None
        if match is None:
            others.append(entry.name)
            continue
        number = int(match.group(1))
        if inside and entry.is_symlink():
            ensure_inside(path / entry.name, inside, where or f"clip folder {folder!r}", "frame file")
        if number in found:
            raise AnnotationError(
                f"clip folder {folder!r}: files {Path(found[number]).name!r} and {entry.name!r} both carry "
                f"frame number {number}; expected one file per frame."
            )
        found[number] = str(path / entry.name)
    if not found:
        sample = sorted(others)[:3]
        raise AnnotationError(
            f"clip folder {folder!r} holds no frame named like {describe}"
            + (f"; found {len(others)} other entries, e.g. {sample!r}." if others else " (the folder is empty).")
        )
    numbers = tuple(sorted(found))
    return FrameListing(path, numbers, tuple(found[n] for n in numbers))


def find_child(parent: Path, name: str) -> Path | None:
    """Return ``parent/name``, matching the name case-insensitively when the exact name is absent.

    CAS(ME)^3 writes one video letter as ``J`` where the folder is ``j``; a
    copy made on a case-insensitive file system may have either spelling.

    Returns:
        The existing path, or ``None`` if no child matches. Several
        case-insensitive matches and no exact one also give ``None`` (ambiguous).
    """
    exact = parent / name
    if exact.exists():
        return exact
    if not parent.is_dir():
        return None
    matches = [p for p in parent.iterdir() if p.name.casefold() == name.casefold()]
    return matches[0] if len(matches) == 1 else None

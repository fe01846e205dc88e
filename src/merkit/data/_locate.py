"""Finding a dataset's annotation file and frame folders under its root, with errors that say what to pass."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from merkit.data._layout import detect_layout
from merkit.data._reports import Problem, is_collecting
from merkit.errors import AnnotationError, DatasetNotFoundError

__all__ = ["RootLocator"]


class RootLocator:
    """File lookups of a loader with a ``root`` folder.

    Inside :func:`merkit.data._reports.collect_setup_problems` (``merkit datasets check``) a missing
    file or folder is recorded in ``self._setup_problems`` instead of raised, so every problem of a
    copy is reported at once.
    """

    root: Path
    _setup_problems: list[Problem]

    def _setup(self, find: Callable[[], Path]) -> Path | None:
        """``find()``; inside :func:`collect_setup_problems` a missing file or folder is recorded and ``None`` returned."""
        if not is_collecting():
            return find()
        try:
            return find()
        except (DatasetNotFoundError, AnnotationError) as exc:  # a usage error (ConfigError) still raises
            self._setup_problems.append(Problem("error", str(self.root), str(exc), type(exc)))
            return None

    def _find_annotation(self, annotation: str | os.PathLike | None, patterns: tuple[str, ...], what: str) -> Path | None:
        """The annotation file: ``annotation`` if given, else the one file in ``root`` matching ``patterns``."""
        return self._setup(lambda: self._locate_annotation(annotation, patterns, what))

    def _locate_annotation(self, annotation: str | os.PathLike | None, patterns: tuple[str, ...], what: str) -> Path:
        if annotation is not None:
            path = Path(annotation).expanduser()
            if not path.is_file():
                raise DatasetNotFoundError(f"annotation file {str(path)!r} does not exist; expected {what}.")
            return path
        found = sorted({p for pattern in patterns for p in self.root.glob(pattern) if p.is_file() and not p.name.startswith("~$")})
        if len(found) == 1:
            return found[0]
        if not found:
            raise DatasetNotFoundError(
                f"no annotation file in dataset root {str(self.root)!r}; expected {what} (a file matching "
                f"{list(patterns)!r}). Pass annotation=PATH if it lives elsewhere."
            )
        raise AnnotationError(
            f"several annotation files in {str(self.root)!r}: {[p.name for p in found]!r}; pass annotation=PATH to choose one."
        )

    def _find_dir(self, candidates: tuple[str, ...], what: str, override: str | os.PathLike | None = None) -> Path | None:
        """The first existing folder among ``root/<candidate>`` (or ``override``)."""
        return self._setup(lambda: self._locate_dir(candidates, what, override))

    def _find_layout(
        self,
        variant: str | None,
        folders: Mapping[str, tuple[str, ...]],
        subject_pattern: str,
        what: str,
        frames_dir: str | os.PathLike | None = None,
        prefer: str | None = None,
    ) -> tuple[str, Path | None]:
        """``(variant, frames folder)`` detected from the root (:func:`merkit.data._layout.detect_layout`)."""
        found = self._setup(lambda: detect_layout(self.root, folders, subject_pattern, what, variant, frames_dir, prefer))
        return found if found is not None else (variant or sorted(folders)[0], None)

    def _locate_dir(self, candidates: tuple[str, ...], what: str, override: str | os.PathLike | None = None) -> Path:
        if override is not None:
            path = Path(override).expanduser()
            if not path.is_dir():
                raise DatasetNotFoundError(f"frames folder {str(path)!r} does not exist; expected {what}.")
            return path
        for candidate in candidates:
            path = self.root / candidate if candidate else self.root
            if path.is_dir() and (candidate or _has_subfolders(path)):
                return path
        raise DatasetNotFoundError(
            f"dataset root {str(self.root)!r} has no {what}; looked for the folders "
            f"{[c or '.' for c in candidates]!r}. Pass frames_dir=PATH if your copy differs."
        )


def _has_subfolders(path: Path) -> bool:
    return any(p.is_dir() for p in path.iterdir())

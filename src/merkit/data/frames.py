"""Frame sources: image folders, image lists, video files and arrays behind one lazy interface.

Every source is a read-only sequence of frames: ``len(source)`` is the frame
count, ``source.fps`` the frame rate (``None`` when unknown), ``source[i]``
decodes frame ``i`` on demand and iterating decodes frames in order. Frames
come back as ``uint8`` arrays, ``(H, W, 3)`` RGB for ``color="rgb"`` or
``(H, W)`` for ``color="gray"``; nothing is decoded before it is asked for.

* :class:`ImageFiles` reads an explicit, ordered list of image files (what a
  :class:`~merkit.data.sample.Sample` holds in ``frame_paths``).
* :class:`ImageFolder` lists the jpg/jpeg/png/bmp/tif files of one folder in
  *numeric* order (``img2.jpg`` before ``img10.jpg``), which is how CASME II,
  SAMM, SMIC and MMEW number their frames.
* :class:`VideoFile` decodes mp4/avi/mov/mkv with PyAV, sequentially; random
  access re-opens the file and decodes forward, which is cheap for the short
  clips of micro-expression datasets.
* :class:`ArrayFrames` wraps an in-memory ``(T, H, W[, C])`` array.

:func:`open_frames` picks the right one for a path or array; :func:`video_sources` turns the
paths a user names (video files, frame folders, folders of video files) into one path per video.
Cameras and network streams, which have no length, are :mod:`merkit.data.live`. Every decoding
failure raises :class:`~merkit.errors.FrameReadError` naming the file and the
frame index; a missing path raises
:class:`~merkit.errors.DatasetNotFoundError`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Literal

import numpy as np

from merkit.errors import ConfigError, DatasetNotFoundError, FrameReadError, ShapeError

__all__ = [
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "FrameSource",
    "ImageFiles",
    "ImageFolder",
    "VideoFile",
    "ArrayFrames",
    "open_frames",
    "numeric_sort_key",
    "list_image_files",
    "video_sources",
    "video_names",
]

#: Image file suffixes read as frames (lower case).
IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
#: Video file suffixes read with PyAV (lower case).
VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm")

ColorMode = Literal["rgb", "gray"]
_COLORS = ("gray", "rgb")
_NUMBER = re.compile(r"(\d+)")


def numeric_sort_key(path: str | os.PathLike) -> tuple:
    """Sort key that orders file names by the numbers they contain (``img2`` < ``img10``).

    Args:
        path: a file path; only its name is used.

    Returns:
        A tuple alternating text chunks (lower case) and integers, suitable for ``sorted``.
    """
    name = Path(path).name
    return tuple(int(part) if part.isdigit() else part.lower() for part in _NUMBER.split(name))


def list_image_files(folder: str | os.PathLike) -> list[Path]:
    """List the image files of ``folder`` (not recursive) in numeric order.

    Raises:
        DatasetNotFoundError: ``folder`` does not exist or is not a directory.
        FrameReadError: the folder holds no image file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetNotFoundError(
            f"frame folder {str(folder)!r} does not exist or is not a directory; "
            f"pass a folder holding {'/'.join(e[1:] for e in IMAGE_EXTENSIONS)} frames."
        )
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
    if not files:
        raise FrameReadError(
            f"frame folder {str(folder)!r} holds no image files; expected at least one of "
            f"{', '.join(IMAGE_EXTENSIONS)}."
        )
    return sorted(files, key=numeric_sort_key)


def _check_color(color: str) -> str:
    if color not in _COLORS:
        raise ConfigError(f"color must be one of {list(_COLORS)!r}; got {color!r}.")
    return color


def _check_fps(fps: float | None) -> float | None:
    if fps is None:
        return None
    fps = float(fps)
    if not np.isfinite(fps) or fps <= 0:
        raise ConfigError(f"fps must be a positive number or None; got {fps!r}.")
    return fps


def _to_color(image: np.ndarray, color: str) -> np.ndarray:
    """Convert an RGB (H, W, 3), RGBA (H, W, 4) or gray (H, W) uint8 image to ``color``."""
    import cv2  # deferred: cv2 adds ~90 ms to importing merkit.data; only decoding frames needs it

    if image.ndim == 2:
        return image if color == "gray" else cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_RGBA2RGB)
    elif image.shape[2] == 1:
        image = image[:, :, 0]
        return image if color == "gray" else cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if color == "gray" else image


class FrameSource(Sequence[np.ndarray]):
    """A lazy, read-only sequence of frames with a frame rate.

    Subclasses implement ``__len__`` and ``_read(index)``; indexing accepts
    negative indices and slices (a slice returns a list of frames).

    Attributes:
        fps: frames per second, or ``None`` when the source does not know it.
        color: ``"rgb"`` for ``(H, W, 3)`` frames, ``"gray"`` for ``(H, W)`` frames.
        name: a human-readable description used in error messages (usually the path).
    """

    fps: float | None
    color: str
    name: str

    def __len__(self) -> int:  # pragma: no cover - abstract
        raise TypeError(f"{type(self).__name__} must define __len__")

    def _read(self, index: int) -> np.ndarray:  # pragma: no cover - abstract
        raise TypeError(f"{type(self).__name__} must define _read")

    def frame_name(self, index: int) -> str:
        """Describe frame ``index`` for error messages and CSV rows (file name or ``video#i``)."""
        return f"{self.name}#{index}"

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self._read(i) for i in range(*index.indices(len(self)))]
        n = len(self)
        i = int(index)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"frame index {index} is out of range for {self.name!r} with {n} frames.")
        return self._read(i)

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(len(self)):
            yield self._read(i)

    def read_all(self) -> np.ndarray:
        """Decode every frame into one array.

        Returns:
            ``(T, H, W, 3)`` or ``(T, H, W)`` uint8.

        Raises:
            ShapeError: frames have different sizes.
        """
        frames = list(self)
        shapes = {f.shape for f in frames}
        if len(shapes) > 1:
            raise ShapeError(f"frames of {self.name!r} have different shapes {sorted(shapes)!r}; cannot stack them.")
        return np.stack(frames)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, n_frames={len(self)}, fps={self.fps}, color={self.color!r})"


class ImageFiles(FrameSource):
    """Frames read from an explicit, ordered list of image files.

    Args:
        paths: image files in frame order.
        fps: frame rate of the recording, or ``None`` if unknown.
        color: ``"rgb"`` or ``"gray"``.
        name: description for messages; defaults to the common parent folder.

    Raises:
        FrameReadError: ``paths`` is empty.
    """

    def __init__(
        self,
        paths: Sequence[str | os.PathLike],
        fps: float | None = None,
        color: ColorMode = "rgb",
        name: str | None = None,
    ) -> None:
        self.paths = [Path(p) for p in paths]
        if not self.paths:
            raise FrameReadError(f"no frame files given for {name or 'image list'!r}; expected at least one image.")
        self.fps = _check_fps(fps)
        self.color = _check_color(color)
        self.name = name or str(self.paths[0].parent)

    def __len__(self) -> int:
        return len(self.paths)

    def frame_name(self, index: int) -> str:
        return str(self.paths[index])

    def _read(self, index: int) -> np.ndarray:
        import cv2  # deferred: cv2 adds ~90 ms to importing merkit.data

        path = self.paths[index]
        if not path.is_file():
            raise FrameReadError(f"frame {index} of {self.name!r}: file {str(path)!r} does not exist.")
        flag = cv2.IMREAD_GRAYSCALE if self.color == "gray" else cv2.IMREAD_COLOR
        # cv2.imread returns None (no exception) on corrupt or unsupported files
        image = cv2.imread(str(path), flag)
        if image is None or image.size == 0:
            raise FrameReadError(
                f"frame {index} of {self.name!r}: cannot decode image file {str(path)!r}; "
                f"expected a readable {'/'.join(e[1:] for e in IMAGE_EXTENSIONS)} image."
            )
        if self.color == "rgb":
            image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        return image


class ImageFolder(ImageFiles):
    """All image files of one folder, in numeric order of their names.

    Args:
        folder: folder holding the frames (``img1.jpg``, ``img2.jpg``, ...).
        fps: frame rate, or ``None`` if unknown (image folders do not record it).
        color: ``"rgb"`` or ``"gray"``.

    Raises:
        DatasetNotFoundError: the folder does not exist.
        FrameReadError: the folder holds no image file.

    Example:
        >>> frames = ImageFolder("CASME2_RAW_selected/sub01/EP02_01f", fps=200)  # doctest: +SKIP
        >>> frames[0].shape  # doctest: +SKIP
        (480, 640, 3)
    """

    def __init__(self, folder: str | os.PathLike, fps: float | None = None, color: ColorMode = "rgb") -> None:
        self.folder = Path(folder)
        super().__init__(list_image_files(self.folder), fps=fps, color=color, name=str(self.folder))


class VideoFile(FrameSource):
    """Frames decoded lazily from a video file with PyAV.

    The frame count comes from the container header when it has one, otherwise
    from counting the video packets (no decoding). ``fps`` is the stream's
    average rate unless overridden.

    Args:
        path: video file (mp4, avi, ...).
        fps: override the frame rate stored in the file.
        color: ``"rgb"`` or ``"gray"``.

    Raises:
        DatasetNotFoundError: the file does not exist.
        FrameReadError: the file cannot be opened, has no video stream, or a frame cannot be decoded.
    """

    def __init__(self, path: str | os.PathLike, fps: float | None = None, color: ColorMode = "rgb") -> None:
        import av  # deferred: PyAV costs ~180 ms; only video files need it

        self._container = None
        self._decoder: Iterator | None = None
        self._position = 0  # index of the next frame the open decoder yields
        self.path = Path(path)
        self.name = str(self.path)
        self.color = _check_color(color)
        if not self.path.is_file():
            raise DatasetNotFoundError(f"video file {self.name!r} does not exist.")
        try:
            with av.open(self.name) as container:
                if not container.streams.video:
                    raise FrameReadError(f"video file {self.name!r} has no video stream.")
                stream = container.streams.video[0]
                rate = stream.average_rate or stream.guessed_rate
                n_frames = int(stream.frames or 0)
                if n_frames <= 0:
                    # headerless containers (some avi/webm): count packets that carry a frame
                    n_frames = sum(1 for packet in container.demux(stream) if packet.size > 0)
        except av.FFmpegError as exc:
            raise FrameReadError(f"cannot open video file {self.name!r}: {exc}.") from exc
        if n_frames <= 0:
            raise FrameReadError(f"video file {self.name!r} holds no frames.")
        self._n_frames = n_frames
        self.fps = _check_fps(fps) if fps is not None else (float(Fraction(rate)) if rate else None)

    def __len__(self) -> int:
        return self._n_frames

    def _open(self) -> None:
        import av  # deferred: PyAV costs ~180 ms; only video files need it

        self.close()
        try:
            self._container = av.open(self.name)
        except av.FFmpegError as exc:
            raise FrameReadError(f"cannot open video file {self.name!r}: {exc}.") from exc
        self._decoder = self._container.decode(video=0)
        self._position = 0

    def close(self) -> None:
        """Close the underlying container (it is re-opened on the next read)."""
        if self._container is not None:
            self._container.close()
        self._container = None
        self._decoder = None

    def __del__(self) -> None:
        self.close()

    def _next(self, index: int) -> np.ndarray:
        import av  # deferred: PyAV costs ~180 ms; only video files need it

        try:
            frame = next(self._decoder)  # type: ignore[arg-type]
        except StopIteration:
            raise FrameReadError(
                f"frame {index} of video {self.name!r}: the stream ended after {self._position} frames "
                f"although the header announced {self._n_frames}."
            ) from None
        except av.FFmpegError as exc:
            raise FrameReadError(f"frame {index} of video {self.name!r} cannot be decoded: {exc}.") from exc
        self._position += 1
        return frame.to_ndarray(format="gray" if self.color == "gray" else "rgb24")

    def _read(self, index: int) -> np.ndarray:
        if self._decoder is None or index < self._position:
            self._open()
        while self._position < index:
            self._next(self._position)
        return self._next(index)

    def __iter__(self) -> Iterator[np.ndarray]:
        self._open()
        try:
            for i in range(self._n_frames):
                yield self._next(i)
        finally:
            self.close()

    def __getstate__(self) -> dict:
        # open containers cannot be pickled (DataLoader workers); re-open lazily
        state = self.__dict__.copy()
        state.update(_container=None, _decoder=None, _position=0)
        return state


class ArrayFrames(FrameSource):
    """Frames held in memory.

    Args:
        frames: ``(T, H, W)`` gray or ``(T, H, W, 3)`` RGB uint8 array (other
            integer or float dtypes in [0, 255] are converted).
        fps: frame rate, or ``None`` if unknown.
        color: output colour mode; gray input is expanded for ``"rgb"``.
        name: description for messages.

    Raises:
        ShapeError: the array is not ``(T, H, W)`` or ``(T, H, W, 1|3|4)`` with ``T >= 1``.
    """

    def __init__(
        self, frames: np.ndarray, fps: float | None = None, color: ColorMode = "rgb", name: str = "array"
    ) -> None:
        frames = np.asarray(frames)
        if frames.ndim not in (3, 4) or frames.shape[0] == 0 or (frames.ndim == 4 and frames.shape[3] not in (1, 3, 4)):
            raise ShapeError(
                f"frames array {name!r} must have shape (T, H, W) or (T, H, W, 3) with T >= 1; got {frames.shape}."
            )
        if frames.dtype != np.uint8:
            frames = np.clip(np.rint(frames), 0, 255).astype(np.uint8)
        self.frames = frames
        self.fps = _check_fps(fps)
        self.color = _check_color(color)
        self.name = name

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    def _read(self, index: int) -> np.ndarray:
        return _to_color(self.frames[index], self.color)


def open_frames(
    source: str | os.PathLike | np.ndarray | Sequence[str | os.PathLike] | FrameSource,
    fps: float | None = None,
    color: ColorMode = "rgb",
) -> FrameSource:
    """Open frames from a folder, a video, a single image, a list of image files or an array.

    Args:
        source: an image folder, a video file, one image file, a sequence of
            image files, a ``(T, H, W[, 3])`` array, or an existing
            :class:`FrameSource` (returned unchanged).
        fps: frame rate (overrides a video's own rate).
        color: ``"rgb"`` or ``"gray"``.

    Returns:
        A lazy :class:`FrameSource`.

    Raises:
        DatasetNotFoundError: the path does not exist.
        FrameReadError: the path is a file of an unsupported type, or holds no frames.
    """
    if isinstance(source, FrameSource):
        return source
    if isinstance(source, np.ndarray):
        return ArrayFrames(source, fps=fps, color=color)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.is_dir():
            return ImageFolder(path, fps=fps, color=color)
        if not path.exists():
            raise DatasetNotFoundError(f"frame source {str(path)!r} does not exist.")
        suffix = path.suffix.lower()
        if suffix in VIDEO_EXTENSIONS:
            return VideoFile(path, fps=fps, color=color)
        if suffix in IMAGE_EXTENSIONS:
            return ImageFiles([path], fps=fps, color=color, name=str(path))
        raise FrameReadError(
            f"cannot read frames from {str(path)!r}: unsupported file type {suffix!r}; expected a folder, "
            f"a video ({', '.join(VIDEO_EXTENSIONS)}) or an image ({', '.join(IMAGE_EXTENSIONS)})."
        )
    return ImageFiles(list(source), fps=fps, color=color)


def _folder_kind(folder: Path) -> str:
    """``"videos"`` (a folder of video files) or ``"frames"`` (one video, its image files); errors otherwise."""
    files = [p for p in folder.iterdir() if p.is_file()]
    videos = [p for p in files if p.suffix.lower() in VIDEO_EXTENSIONS]
    images = [p for p in files if p.suffix.lower() in IMAGE_EXTENSIONS]
    if videos and images:
        raise ConfigError(
            f"folder {str(folder)!r} holds both video files ({len(videos)}, e.g. {videos[0].name!r}) and image "
            f"frames ({len(images)}, e.g. {images[0].name!r}); a folder is either one video (its frames) or a set "
            f"of videos. Move one kind out, or name the videos one by one."
        )
    if not videos and not images:
        raise FrameReadError(
            f"folder {str(folder)!r} holds neither video files ({', '.join(VIDEO_EXTENSIONS)}) nor image frames "
            f"({', '.join(IMAGE_EXTENSIONS)}); sub-folders are not searched, name them instead."
        )
    return "videos" if videos else "frames"


def video_sources(sources: Sequence[str | os.PathLike]) -> list[Path]:
    """The videos that ``sources`` name, in order: files, frame folders and the videos of folders of videos.

    A folder that holds video files (:data:`VIDEO_EXTENSIONS`) stands for each of them, in numeric order
    of their names; a folder that holds image files (:data:`IMAGE_EXTENSIONS`) is one video, its frames
    (as :func:`open_frames` reads it). Only the folder's own files decide (sub-folders are not searched).
    Any other file is passed on as given: :func:`open_frames` says what is wrong with it when it is read.
    A video named twice is kept once.

    Args:
        sources: video files, frame folders and folders of video files.

    Returns:
        One path per video.

    Raises:
        DatasetNotFoundError: a path does not exist.
        ConfigError: a folder holds both video files and image frames.
        FrameReadError: a folder holds neither.
    """
    found: list[Path] = []
    seen: set[Path] = set()
    for source in sources:
        path = Path(source)
        if not path.exists():
            raise DatasetNotFoundError(f"video source {str(path)!r} does not exist; expected a video file, a folder "
                                       f"of frames or a folder of video files.")
        if path.is_dir() and _folder_kind(path) == "videos":
            items = sorted((p for p in path.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS),
                           key=numeric_sort_key)
        else:
            items = [path]
        for item in items:
            if item.resolve() not in seen:
                seen.add(item.resolve())
                found.append(item)
    return found


def video_names(paths: Sequence[str | os.PathLike]) -> list[str]:
    """A distinct name per video for output files: the file's stem or the folder's name.

    Two videos of the same name (``a/clip.mp4``, ``b/clip.mp4``) get their parent folder's name in
    front (``a_clip``, ``b_clip``); what still collides gets ``_2``, ``_3``, ... in the given order.
    """
    def base(p: Path) -> str:
        return p.name if p.is_dir() else (p.stem or p.name)

    paths = [Path(p) for p in paths]
    names = [base(p) for p in paths]
    names = [f"{p.parent.name}_{n}" if names.count(n) > 1 and p.parent.name else n for p, n in zip(paths, names)]
    out: list[str] = []
    for name in names:
        unique, k = name, 1
        while unique in out:
            k += 1
            unique = f"{name}_{k}"
        out.append(unique)
    return out


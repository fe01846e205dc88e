"""The nuisances of real recordings that SynthME long videos add on request (``realistic`` preset).

* :func:`head_drift`: a slow drift of the head's position and roll over the whole video;
* :func:`flicker_gain`: mains-beat and random flicker of the light;
* :class:`H264Writer` / :func:`decoded_frames`: an H.264 stream (libx264 through PyAV) whose decoded
  frames are what the layout writes, so the frame files carry compression artefacts;
* :func:`write_head_pose`, :func:`write_illumination`: the per-frame ground truth of these.

Parameters and what the tests measure are in ``docs/synthme.md`` ("Long-video presets").
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

from merkit._io import write_text
from merkit.errors import FrameReadError, ShapeError

__all__ = ["H264Writer", "decoded_frames", "flicker_gain", "head_drift", "write_head_pose", "write_illumination"]

#: Range of the turning rate of the drift's heading and of the roll's oscillation, rad per minute.
TURN_PER_MIN = (0.5, 1.5)


def head_drift(times_s: np.ndarray, speed_px_per_min: tuple[float, float], roll_deg_per_min: tuple[float, float],
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A slow drift of the head: position along a turning heading at constant speed, and a slow roll.

    With ``m`` the time in minutes, speed ``s`` and turn ``w`` (``|w|`` in :data:`TURN_PER_MIN`, random
    sign), the position is ``(s / w) * (sin(a + w m) - sin a, cos a - cos(a + w m))`` (path length ``s m``);
    the roll is ``+-(r / w') * sin(w' m)`` (rate ``r`` at the start, never beyond ``r / |w'|``).

    Args:
        times_s: (T,) frame times in seconds, from 0.
        speed_px_per_min: range of the drift speed ``s``, px per minute.
        roll_deg_per_min: range of the roll rate ``r``, degrees per minute.
        rng: generator; six numbers are drawn.

    Returns:
        ``(shift, roll)``: (T, 2) float64 drift in pixels and (T,) float64 roll in degrees, both 0 at time 0.
    """
    m = np.asarray(times_s, np.float64) / 60.0
    speed = rng.uniform(*speed_px_per_min)
    heading = rng.uniform(0, 2 * np.pi)
    turn = rng.uniform(*TURN_PER_MIN) * rng.choice((-1.0, 1.0))
    rate = rng.uniform(*roll_deg_per_min)
    roll_turn = rng.uniform(*TURN_PER_MIN) * rng.choice((-1.0, 1.0))
    shift = (speed / turn) * np.stack([np.sin(heading + turn * m) - np.sin(heading),
                                       np.cos(heading) - np.cos(heading + turn * m)], 1)
    return shift, (rate / roll_turn) * np.sin(roll_turn * m)


def flicker_gain(times_s: np.ndarray, amplitude: float, light_hz: float, random_sigma: float,
                 rng: np.random.Generator) -> np.ndarray:
    """Relative gain of a flickering light sampled at the frame times.

    ``1 + amplitude * sin(2 pi light_hz t + phase) + random_sigma * n_t`` with ``n_t`` white standard
    normal noise: sampled at ``fps``, a 100 Hz light shows at its alias (10 Hz at 30 fps).

    Args:
        times_s: (T,) frame times in seconds.
        amplitude: relative amplitude of the periodic flicker.
        light_hz: frequency of the light's flicker, Hz.
        random_sigma: standard deviation of the per-frame random gain jitter.
        rng: generator; one phase and T normals are drawn.

    Returns:
        (T,) float64 gain around 1.
    """
    t = np.asarray(times_s, np.float64)
    phase = rng.uniform(0, 2 * np.pi)
    return 1 + amplitude * np.sin(2 * np.pi * light_hz * t + phase) + random_sigma * rng.standard_normal(len(t))


class H264Writer:
    """Encode frames one by one to an H.264 mp4 (libx264, yuv420p, average bit rate, fixed key-frame interval).

    The encoder runs on one thread and holds only its look-ahead of frames, so memory does not grow
    with the video's length. libx264's average-bit-rate control does not always repeat its bytes from
    run to run (seen on one in a few runs): two runs with one seed give the same rendered frames and
    ground truth, and decoded frames that differ by compression noise only (docs/synthme.md).

    Args:
        path: target ``.mp4`` (written in place; callers give a temporary path and rename it).
        size: (width, height) in pixels; both even (yuv420p).
        fps: frame rate.
        grayscale: frames are (H, W) uint8 (else (H, W, 3) RGB uint8).
        bits_per_pixel: average bit rate, bits per pixel and frame.
        gop_s: time between key frames, seconds.
        preset: libx264 speed preset.

    Raises:
        ShapeError: an odd frame size, or a frame of another shape than ``size``.
    """

    def __init__(self, path: Path, size: tuple[int, int], fps: float, *, grayscale: bool, bits_per_pixel: float,
                 gop_s: float, preset: str) -> None:
        import av  # deferred: PyAV costs ~180 ms; only the h264 nuisance needs it

        w, h = size
        if w % 2 or h % 2:
            raise ShapeError(f"H.264 (yuv420p) needs an even frame size; got {w}x{h} for {str(path)!r}.")
        self._av, self.path, self.size, self.grayscale = av, Path(path), (w, h), grayscale
        self._container = av.open(str(path), "w", format="mp4")
        rate = Fraction(fps).limit_denominator(1001)
        self._stream = self._container.add_stream("libx264", rate=rate)
        self._stream.width, self._stream.height, self._stream.pix_fmt = w, h, "yuv420p"
        self._stream.bit_rate = int(round(bits_per_pixel * w * h * fps))
        self._stream.codec_context.gop_size = max(1, int(round(gop_s * fps)))
        self._stream.codec_context.thread_count = 1
        self._stream.options = {"preset": preset, "threads": "1"}
        self._count = 0

    def write(self, frame: np.ndarray) -> None:
        """Encode one (H, W) or (H, W, 3) uint8 frame."""
        w, h = self.size
        expected = (h, w) if self.grayscale else (h, w, 3)
        if frame.shape != expected or frame.dtype != np.uint8:
            raise ShapeError(f"frame {self._count + 1} of {str(self.path)!r} must be a uint8 array of shape "
                             f"{expected}; got {frame.dtype} {tuple(frame.shape)}.")
        image = self._av.VideoFrame.from_ndarray(frame, format="gray" if self.grayscale else "rgb24")
        image.pts = self._count
        self._count += 1
        for packet in self._stream.encode(image.reformat(format="yuv420p")):
            self._container.mux(packet)

    def close(self) -> int:
        """Flush the encoder and close the file; returns the number of frames written."""
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
        return self._count


def decoded_frames(path: Path, n_frames: int, *, grayscale: bool) -> Iterator[np.ndarray]:
    """Decode an mp4 frame by frame: (H, W) uint8 (``grayscale``, the luma) or (H, W, 3) RGB uint8.

    Raises:
        FrameReadError: the file cannot be decoded or holds another number of frames than ``n_frames``.
    """
    import av  # deferred: PyAV costs ~180 ms; only the h264 nuisance needs it

    count = 0
    try:
        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                count += 1
                yield frame.to_ndarray(format="gray" if grayscale else "rgb24")
    except av.FFmpegError as exc:
        raise FrameReadError(f"cannot decode the H.264 stream {str(path)!r} at frame {count + 1}: {exc}.") from exc
    if count != n_frames:
        raise FrameReadError(f"the H.264 stream {str(path)!r} decoded to {count} frames; expected {n_frames}.")


def write_head_pose(path: Path, shift: np.ndarray, roll_deg: np.ndarray, drift: np.ndarray, drift_roll: np.ndarray,
                    centre: tuple[float, float]) -> Path:
    """``head_pose.csv``: per frame the head's shift (px) and roll (degrees) about ``centre``, relative to frame 1.

    Columns: ``frame`` (1-based), ``shift_x_px, shift_y_px, roll_deg`` (all head motion: sway, head
    moves, drift), ``drift_x_px, drift_y_px, drift_roll_deg`` (the slow drift alone),
    ``centre_x_px, centre_y_px`` (the centre of the roll). A frame-1 point ``p`` of the face is at
    ``R(roll) (p - centre) + centre + shift`` (image coordinates, y down; positive roll turns +x towards +y).

    Raises:
        ShapeError: arrays of different lengths.
    """
    n = len(roll_deg)
    if shift.shape != (n, 2) or drift.shape != (n, 2) or drift_roll.shape != (n,):
        raise ShapeError(f"head pose arrays for {str(path)!r} must be (T, 2), (T,), (T, 2), (T,) with T = {n}; got "
                         f"{shift.shape}, {roll_deg.shape}, {drift.shape}, {drift_roll.shape}.")
    lines = ["frame,shift_x_px,shift_y_px,roll_deg,drift_x_px,drift_y_px,drift_roll_deg,centre_x_px,centre_y_px"]
    cx, cy = centre
    for t in range(n):
        lines.append(f"{t + 1},{shift[t, 0]:.4f},{shift[t, 1]:.4f},{roll_deg[t]:.4f},{drift[t, 0]:.4f},"
                     f"{drift[t, 1]:.4f},{drift_roll[t]:.4f},{cx:.3f},{cy:.3f}")
    return write_text(path, "\n".join(lines) + "\n")


def write_illumination(path: Path, drift_gain: np.ndarray, flicker: np.ndarray) -> Path:
    """``illumination.csv``: per frame (1-based) the slow drift gain, the flicker gain and their product."""
    lines = ["frame,drift_gain,flicker_gain,gain"]
    for t, (d, f) in enumerate(zip(drift_gain, flicker)):
        lines.append(f"{t + 1},{d:.6f},{f:.6f},{d * f:.6f}")
    return write_text(path, "\n".join(lines) + "\n")

"""Parameters of the SynthME long-video mode and its named presets (``clean``, ``realistic``).

:class:`LongVideoConfig` holds every parameter of :func:`merkit.synth.longvideo.generate_long_videos`
(times in seconds, displacements in pixels at the camera preset's face size). Its defaults are the
``clean`` preset; the nuisance fields added for ``realistic`` (slow head drift and roll, blinks next
to micro-expressions, illumination flicker, stronger sensor noise, an H.264 stream) are off there, so
a clean tree is byte-identical to one written before they existed. ``docs/synthme.md``
("Long-video presets") explains each parameter and what the tests measure on the output.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from merkit._options import coerce, field_types, unknown_name
from merkit.errors import ConfigError

__all__ = ["LongVideoConfig", "LONG_LAYOUTS", "LONG_PRESETS", "X264_PRESETS", "get_long_preset", "list_long_presets",
           "with_overrides"]

#: layout -> (output folder, camera source of the ``small`` preset, real fps).
LONG_LAYOUTS: dict[str, tuple[str, str, float]] = {"casme_sq": ("CASME_sq", "casme2", 30.0),
                                                   "samm_lv": ("SAMM_LV", "samm", 200.0)}
#: Subject folders of the SAMM-LV layout, in generation order.
SAMM_SUBJECTS = ("006", "007", "009", "010", "011", "012", "013", "014", "015", "016", "017", "018", "019", "020")
#: libx264 speed presets (``video_preset``), fastest first.
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
#: Fields added for the nuisance presets and their clean defaults; ``long_manifest.json`` leaves them out
#: when all are at these values, so a clean tree keeps the manifest it had before they existed.
NUISANCE_DEFAULTS: dict[str, Any] = {
    "head_drift_px_per_min": (0.0, 0.0), "head_roll_deg_per_min": (0.0, 0.0), "blink_near_micro": 0.0,
    "blink_micro_gap_s": (0.1, 0.5), "flicker": 0.0, "flicker_hz": 100.0, "flicker_random": 0.0,
    "noise_sigma": None, "shot_noise": None, "video_codec": None, "video_bits_per_pixel": 0.11,
    "video_gop_s": 2.0, "video_preset": "medium",
}
_RANGES = ("micro_duration_s", "macro_duration_s", "micro_peak_px", "macro_peak_iod", "blink_duration_s",
           "head_move_px", "head_move_duration_s", "head_drift_px_per_min", "head_roll_deg_per_min",
           "blink_micro_gap_s")
_POSITIVE_RANGES = ("micro_duration_s", "macro_duration_s", "blink_duration_s", "head_move_duration_s",
                    "blink_micro_gap_s")


@dataclass(frozen=True)
class LongVideoConfig:
    """Parameters of a SynthME long-video set (times in seconds, displacements in pixels).

    Pixel sizes are at the camera preset's face size (``small``: IOD 48 px for ``casme_sq``, 50 px for
    ``samm_lv``). Ranges are ``(min, max)``, drawn uniformly per event or per video.

    Attributes:
        layout: ``'casme_sq'`` or ``'samm_lv'``.
        n_subjects: subjects (one identity each).
        videos_per_subject: long videos per subject.
        n_frames: frames per video (length = n_frames / fps).
        fps: frame rate used for timing and written to the manifest; None = the dataset's real rate.
        camera_preset: SynthME preset whose camera (frame size, IOD, noise) is used.
        n_micro, n_macro, n_blinks, n_head_moves: events per video.
        micro_duration_s, macro_duration_s: onset-to-offset duration ranges.
        micro_peak_px: peak displacement range of micro-expressions.
        macro_peak_iod: peak of macro-expressions as a fraction of the IOD (before the fold-free cap).
        macro_blob_scale: width factor of macro-expression blobs (see :mod:`merkit.synth.macro`).
        blink_duration_s: blink duration range.
        head_move_px: translation range of one head movement.
        head_move_duration_s: duration range of one head movement.
        head_sway_px: RMS of the slow head sway over the whole video.
        min_gap_s: least time between two events, and before the first / after the last.
        rawvideo: ``casme_sq`` only: also write each video as ``rawvideo/s15/<video>.avi``
            (Motion-JPEG, the layout's raw videos). With ``video_codec='h264'`` the raw video is
            always written, as the ``.mp4`` the frames were decoded from, and this flag adds nothing.
        head_drift_px_per_min: range of the speed of the head's slow drift, px per minute. Each
            video draws one speed ``s`` and a heading that turns at ``w``, ``|w|`` drawn in
            0.5-1.5 rad per minute: the path has length ``s * minutes`` and ends ``0.91-0.99 * s``
            from its start after one minute (it stays within ``2 s / |w|`` of the start). (0, 0): none.
        head_roll_deg_per_min: range of the rate of the head's slow roll, degrees per minute. Each
            video draws a rate ``r`` and ``w`` as above: ``roll = +-(r / w) * sin(w * minutes)``,
            which starts at rate ``r`` and stays within ``r / |w| <= 2 r``. (0, 0): none.
        blink_near_micro: fraction of the blinks (``round(fraction * n_blinks)``, at most
            ``n_micro``) placed just before or just after a micro-expression (side drawn per pair).
        blink_micro_gap_s: range of the gap from the earlier event's offset frame to the later
            event's onset frame of such a pair (at least one frame, so the blink never overlaps the
            annotated interval); ``min_gap_s`` does not apply inside a pair.
        flicker: amplitude of the mains flicker of the light, a relative gain (0.02 = 2 %), the light
            oscillating at ``flicker_hz`` and sampled at the frame times, so it shows at the alias of
            ``flicker_hz`` against ``fps`` (100 Hz light at 30 fps: a 10 Hz beat).
        flicker_hz: frequency of the light's flicker, Hz (twice the mains frequency: 100 or 120).
        flicker_random: standard deviation of a random per-frame gain jitter (exposure, lamp
            instability), relative. Both flickers multiply the camera's slow illumination drift.
        noise_sigma: read-noise standard deviation, grey levels; None = the camera preset's.
        shot_noise: signal-dependent noise (variance per grey level); None = the camera preset's.
        video_codec: None (frames filmed straight to the layout's image files) or ``'h264'``: the
            video is encoded as H.264 in an mp4 (libx264, PyAV) and the frame files are the decoded
            frames (then JPEG-encoded by the layout as before), so they carry compression artefacts.
            The mp4 is kept as ``rawvideo/s15/<video>.mp4`` (``casme_sq``) or as
            ``_groundtruth/<subject>/<video>/video.mp4`` (``samm_lv``, whose layout has no videos).
        video_bits_per_pixel: H.264 average bit rate in bits per pixel and frame (0.11 = 1 Mbit/s at
            640x480 and 30 fps; 140 kbit/s for the ``small`` camera's 240x180).
        video_gop_s: time between H.264 key frames, seconds.
        video_preset: libx264 speed preset (:data:`X264_PRESETS`).
    """

    layout: str = "casme_sq"
    n_subjects: int = 2
    videos_per_subject: int = 1
    n_frames: int = 1800
    fps: float | None = None
    camera_preset: str = "small"
    n_micro: int = 4
    n_macro: int = 2
    n_blinks: int = 3
    n_head_moves: int = 2
    micro_duration_s: tuple[float, float] = (0.25, 0.45)
    macro_duration_s: tuple[float, float] = (0.8, 1.6)
    micro_peak_px: tuple[float, float] = (1.2, 2.5)
    macro_peak_iod: tuple[float, float] = (0.12, 0.2)
    macro_blob_scale: float = 2.5
    blink_duration_s: tuple[float, float] = (0.15, 0.3)
    head_move_px: tuple[float, float] = (3.0, 7.0)
    head_move_duration_s: tuple[float, float] = (0.3, 0.6)
    head_sway_px: float = 0.6
    min_gap_s: float = 0.4
    rawvideo: bool = False
    head_drift_px_per_min: tuple[float, float] = (0.0, 0.0)
    head_roll_deg_per_min: tuple[float, float] = (0.0, 0.0)
    blink_near_micro: float = 0.0
    blink_micro_gap_s: tuple[float, float] = (0.1, 0.5)
    flicker: float = 0.0
    flicker_hz: float = 100.0
    flicker_random: float = 0.0
    noise_sigma: float | None = None
    shot_noise: float | None = None
    video_codec: str | None = None
    video_bits_per_pixel: float = 0.11
    video_gop_s: float = 2.0
    video_preset: str = "medium"

    def __post_init__(self) -> None:
        if self.layout not in LONG_LAYOUTS:
            raise ConfigError(f"LongVideoConfig.layout must be one of {sorted(LONG_LAYOUTS)!r}; got {self.layout!r}.")
        for name in ("n_subjects", "videos_per_subject", "n_frames"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(f"LongVideoConfig.{name} must be a positive integer; got {getattr(self, name)!r}.")
        if self.layout == "casme_sq" and (self.n_subjects > 22 or self.videos_per_subject > 9):
            raise ConfigError("the casme_sq layout has 22 subject folders and 9 stimulus videos; got "
                              f"n_subjects={self.n_subjects}, videos_per_subject={self.videos_per_subject}.")
        if self.layout == "samm_lv" and self.n_subjects > len(SAMM_SUBJECTS):
            raise ConfigError(f"the samm_lv layout has at most {len(SAMM_SUBJECTS)} subjects; got {self.n_subjects}.")
        if self.rawvideo and self.layout != "casme_sq":
            raise ConfigError("LongVideoConfig.rawvideo is for the casme_sq layout (CAS(ME)^2 ships rawvideo/); "
                              f"got layout={self.layout!r}.")
        if self.fps is not None and self.fps <= 0:
            raise ConfigError(f"LongVideoConfig.fps must be positive; got {self.fps!r}.")
        for name in ("n_micro", "n_macro", "n_blinks", "n_head_moves"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                raise ConfigError(f"LongVideoConfig.{name} must be an integer >= 0; got {getattr(self, name)!r}.")
        for name in _RANGES:
            value = getattr(self, name)
            low = 0 if name not in _POSITIVE_RANGES else 1e-9
            if len(value) != 2 or not low <= value[0] <= value[1]:
                bound = "0 < min" if name in _POSITIVE_RANGES else "0 <= min"
                raise ConfigError(f"LongVideoConfig.{name} must be a (min, max) pair with {bound} <= max; "
                                  f"got {value!r}.")
        self._check_nuisances()

    def _check_nuisances(self) -> None:
        if not 0 <= self.blink_near_micro <= 1:
            raise ConfigError(f"LongVideoConfig.blink_near_micro must be a fraction in [0, 1]; "
                              f"got {self.blink_near_micro!r}.")
        if not 0 <= self.flicker < 0.5 or not 0 <= self.flicker_random < 0.5:
            raise ConfigError(f"LongVideoConfig.flicker and flicker_random are relative gains in [0, 0.5) "
                              f"(0.02 = 2 %); got {self.flicker!r} and {self.flicker_random!r}.")
        if not self.flicker_hz > 0:
            raise ConfigError(f"LongVideoConfig.flicker_hz must be positive (Hz); got {self.flicker_hz!r}.")
        for name in ("noise_sigma", "shot_noise", "head_sway_px", "min_gap_s"):
            value = getattr(self, name)
            if value is not None and not value >= 0:
                raise ConfigError(f"LongVideoConfig.{name} must be >= 0; got {value!r}.")
        if self.video_codec not in (None, "h264"):
            raise ConfigError(f"LongVideoConfig.video_codec must be None or 'h264'; got {self.video_codec!r}.")
        if not self.video_bits_per_pixel > 0 or not self.video_gop_s > 0:
            raise ConfigError(f"LongVideoConfig.video_bits_per_pixel and video_gop_s must be positive; got "
                              f"{self.video_bits_per_pixel!r} and {self.video_gop_s!r}.")
        if self.video_preset not in X264_PRESETS:
            raise unknown_name("libx264 preset (LongVideoConfig.video_preset)", self.video_preset, X264_PRESETS)

    @property
    def rate(self) -> float:
        """Frame rate in use (``fps`` or the layout's real rate)."""
        return float(self.fps if self.fps is not None else LONG_LAYOUTS[self.layout][2])

    def to_dict(self) -> dict[str, Any]:
        """Plain-data view for ``long_manifest.json``; the nuisance fields are left out when all are at
        their clean defaults (so a clean manifest is the one written before they existed)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        if all(out[name] == default for name, default in NUISANCE_DEFAULTS.items()):
            for name in NUISANCE_DEFAULTS:
                del out[name]
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


def with_overrides(config: LongVideoConfig, **overrides: Any) -> LongVideoConfig:
    """``config`` with fields replaced (values converted to the field's type, lists to tuples).

    Raises:
        ConfigError: an unknown name (listing the valid ones), a value of the wrong type or a bad value.
    """
    valid = field_types(LongVideoConfig)
    unknown = sorted(set(overrides) - set(valid))
    if unknown:
        raise ConfigError(f"unknown LongVideoConfig field(s) {unknown!r}; valid: {sorted(valid)!r}.")
    return replace(config, **{k: coerce(k, v, valid[k]) for k, v in overrides.items()})


_CLEAN = LongVideoConfig()
#: Named presets. ``clean`` is the defaults. ``realistic`` adds what real face recordings carry and
#: SynthME long videos lacked (docs/synthme.md, "Long-video presets"): slow head drift and roll on top of
#: the sway and head moves, blinks right next to micro-expressions, mains-beat and random flicker on the
#: slow illumination drift, stronger sensor noise, an H.264 stream at 0.11 bit per pixel the frames are
#: decoded from, and smaller micro-expressions (0.3-1.5 px, 8-15 frames at 30 fps).
LONG_PRESETS: dict[str, LongVideoConfig] = {
    "clean": _CLEAN,
    "realistic": replace(
        _CLEAN, micro_peak_px=(0.3, 1.5), micro_duration_s=(0.27, 0.5), head_drift_px_per_min=(3.0, 8.0),
        head_roll_deg_per_min=(2.0, 5.0), blink_near_micro=0.5, blink_micro_gap_s=(0.1, 0.5), flicker=0.02,
        flicker_hz=100.0, flicker_random=0.005, noise_sigma=3.5, shot_noise=0.04, video_codec="h264",
        video_bits_per_pixel=0.11, video_gop_s=2.0, video_preset="medium"),
}


def list_long_presets() -> list[str]:
    """Names of the long-video presets, sorted."""
    return sorted(LONG_PRESETS)


def get_long_preset(name: str) -> LongVideoConfig:
    """The long-video preset ``name`` (a :class:`LongVideoConfig`; change fields with :func:`with_overrides`).

    Raises:
        UnknownNameError: for an unknown name, naming the closest one.
    """
    if name not in LONG_PRESETS:
        raise unknown_name("SynthME long-video preset", name, LONG_PRESETS)
    return LONG_PRESETS[name]

"""SynthME parameters and size presets, as plain frozen dataclasses.

Every realism knob of the generator lives here with its unit and default.
A preset is a :class:`SynthConfig`; :func:`get_preset` returns it and
:meth:`SynthConfig.replace` applies overrides (unknown keys are a
:class:`~merkit.errors.ConfigError` naming the closest key). ``docs/synthme.md``
explains each parameter.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from merkit._options import coerce, did_you_mean, field_types, unknown_name
from merkit.errors import ConfigError

__all__ = ["CameraConfig", "SourceConfig", "SynthConfig", "PRESETS", "get_preset", "list_presets", "SOURCES"]

#: The three source datasets SynthME writes, in generation order.
SOURCES: tuple[str, ...] = ("casme2", "samm", "smic_hs")


@dataclass(frozen=True)
class CameraConfig:
    """One source's camera and recording conditions.

    Attributes:
        frame_size: (width, height) of the frames in pixels.
        iod_px: mean inter-ocular distance of the faces in pixels (face width is about 2.1 IOD).
        iod_jitter: relative per-clip variation of the face size (0.05 = +-5 %).
        grayscale: write single-channel frames (SAMM).
        image_format: ``'jpg'`` or ``'bmp'``.
        jpeg_quality: JPEG quality (0-100) when ``image_format == 'jpg'``.
        noise_sigma: read-noise standard deviation, grey levels (0-255).
        shot_noise: signal-dependent noise; variance adds ``shot_noise * level``.
        blur_sigma: optical blur of the camera, pixels.
        contrast: contrast of the rendered scene around mid-grey (1 = unchanged).
        brightness: mean brightness multiplier.
        background_rgb: wall colour behind the subject, RGB in [0, 1].
        head_shift_px: standard deviation of head translation over a clip, pixels.
        head_rotation_deg: standard deviation of head roll over a clip, degrees.
        head_scale: standard deviation of relative head scale change over a clip.
        illumination_drift: standard deviation of the global gain drift over a clip (0.03 = 3 %).
        illumination_gradient: standard deviation of a drifting left-right/top-bottom gain ramp.
        flicker: amplitude of mains flicker in gain (0.01 = 1 %), at ``flicker_hz``.
        flicker_hz: flicker frequency in Hz (twice the mains frequency).
        placement_px: standard deviation of the face's position in the frame between clips, pixels.
    """

    frame_size: tuple[int, int]
    iod_px: float
    iod_jitter: float = 0.05
    grayscale: bool = False
    image_format: str = "jpg"
    jpeg_quality: int = 90
    noise_sigma: float = 2.0
    shot_noise: float = 0.02
    blur_sigma: float = 0.5
    contrast: float = 1.0
    brightness: float = 1.0
    background_rgb: tuple[float, float, float] = (0.72, 0.74, 0.78)
    head_shift_px: float = 1.5
    head_rotation_deg: float = 0.4
    head_scale: float = 0.004
    illumination_drift: float = 0.02
    illumination_gradient: float = 0.02
    flicker: float = 0.004
    flicker_hz: float = 100.0
    placement_px: float = 4.0

    def __post_init__(self) -> None:
        if self.image_format not in ("jpg", "bmp"):
            raise ConfigError(f"image_format must be 'jpg' or 'bmp'; got {self.image_format!r}.")
        w, h = self.frame_size
        if w < 3 * self.iod_px or h < 3 * self.iod_px:
            raise ConfigError(
                f"frame_size {self.frame_size!r} is too small for iod_px={self.iod_px}; the face needs "
                f"at least (3 * iod_px, 3 * iod_px) = ({3 * self.iod_px:.0f}, {3 * self.iod_px:.0f})."
            )
        if not 0 <= self.jpeg_quality <= 100:
            raise ConfigError(f"jpeg_quality must be in [0, 100]; got {self.jpeg_quality!r}.")


@dataclass(frozen=True)
class SourceConfig:
    """How many clips of which class one source dataset gets, and their timing.

    Attributes:
        n_subjects: subjects in the composite (MEGC) part of this source.
        class_counts: clips per MEGC class (negative, positive, surprise).
        n_other: extra clips labelled ``others``/``Other`` (CASME II, SAMM only); they are in the
            annotation sheet and on disk but not in the composite ground truth.
        fps: frame rate written in the annotations and used for all timing.
        duration_s: (min, max) onset-to-offset duration in seconds.
        apex_position: (min, max) position of the true apex within [onset, offset], as a fraction.
        baseline_frames: (min, max) neutral frames kept before onset and after offset on disk.
        apex_annotation_jitter: standard deviation of the annotated apex around the true apex,
            as a fraction of the duration (human coders are imprecise); 0 writes the true apex.
        camera: the source's camera, see :class:`CameraConfig`.
    """

    n_subjects: int
    class_counts: tuple[int, int, int]
    fps: float
    duration_s: tuple[float, float]
    camera: CameraConfig
    n_other: int = 0
    apex_position: tuple[float, float] = (0.3, 0.6)
    baseline_frames: tuple[int, int] = (0, 0)
    apex_annotation_jitter: float = 0.05

    def __post_init__(self) -> None:
        if self.n_subjects < 1:
            raise ConfigError(f"n_subjects must be >= 1; got {self.n_subjects!r}.")
        if sum(self.class_counts) < self.n_subjects:
            raise ConfigError(
                f"class_counts {self.class_counts!r} give {sum(self.class_counts)} clips for "
                f"{self.n_subjects} subjects; every subject needs at least one clip."
            )
        lo, hi = self.duration_s
        if not 0 < lo <= hi or round(lo * self.fps) < 3:
            raise ConfigError(
                f"duration_s {self.duration_s!r} at {self.fps} fps must give at least 3 frames; got "
                f"{round(lo * self.fps)}."
            )



@dataclass(frozen=True)
class SynthConfig:
    """All parameters of one SynthME dataset.

    Attributes:
        name: preset name written to the manifest.
        sources: per-source configuration, keyed ``casme2``, ``samm``, ``smic_hs``.
        au_peak_px: (min, max) peak displacement of the class AUs in pixels at the source's
            face size, before the subject's expressiveness multiplier.
        au_peak_max_px: hard upper bound on the peak after expressiveness.
        au_weight_range: (min, max) relative weight of each AU inside a combination.
        expressiveness_sigma: log-normal sigma of the per-subject expressiveness multiplier.
        blink_rate: probability that a clip contains a blink (AU45), any class.
        blink_duration_s: (min, max) blink duration in seconds.
        blink_peak_iod: (min, max) blink lid travel as a fraction of the IOD.
        habit_rate: (min, max) of the per-subject probability of its habitual AU in a clip.
        habit_amplitude: (min, max) habit peak relative to ``au_peak_px``'s upper end.
        habit_duration_s: (min, max) habit duration in seconds.
        subject_class_concentration: Dirichlet concentration of per-subject class propensities
            (smaller = subjects more lopsided, identity more predictive of class in training folds).
        subject_size_concentration: Dirichlet concentration of how many clips each subject has.
        glasses_rate: fraction of subjects with glasses.
        shape_jitter: per-landmark identity shape noise, IOD units.
        flow_iterations: fixed-point iterations used to invert displacement fields when warping.
        amplitude_scale: multiplier (unitless, > 0) on the peak displacement of the class
            (expression) AUs, applied after ``au_peak_max_px`` and the fold-free cap of
            :func:`~merkit.synth.actions.normalise_peak`: 1 is the micro-expression default, 8
            gives macro-like motion (up to 8 x 2.5 = 20 px at the source face size). Blinks and
            habits (nuisance motion) are not scaled. Where the scaled field would fold, the AU's
            blobs widen instead (:func:`~merkit.synth.actions.amplify`), so the peak is exactly
            scaled. The "amplitude ladder" of docs/synthme.md.
        appearance_contrast: peak relative luminance change (unitless, in [0, 1]; 0.05 = 5 %
            darker in a crease) of each class AU's appearance pattern (furrows, wrinkles, folds;
            :data:`~merkit.synth.appearance.AU_CREASES`) at full activation: AU weight 1,
            expressiveness 1, apex of the clip's activation curve. Follows the displacement's
            activation curve, AU weight and the subject's expressiveness (capped at
            ``au_peak_max_px / au_peak_px[1]``), not ``amplitude_scale``. 0 (default) draws none.
        dlib_detectable: whether dlib's HOG frontal-face detector finds the faces without
            upsampling (tested for ``small`` and ``full``). ``False`` for ``tiny``, whose faces are
            smaller than the detector's 80 px window: pipelines on it use the ground-truth
            landmarks in ``_groundtruth/`` instead of detecting faces.
    """

    name: str
    sources: dict[str, SourceConfig]
    dlib_detectable: bool = True
    au_peak_px: tuple[float, float] = (0.3, 2.0)
    au_peak_max_px: float = 2.5
    au_weight_range: tuple[float, float] = (0.6, 1.0)
    expressiveness_sigma: float = 0.3
    blink_rate: float = 0.35
    blink_duration_s: tuple[float, float] = (0.08, 0.16)
    blink_peak_iod: tuple[float, float] = (0.04, 0.07)
    habit_rate: tuple[float, float] = (0.3, 0.8)
    habit_amplitude: tuple[float, float] = (0.4, 1.0)
    habit_duration_s: tuple[float, float] = (0.05, 0.2)
    subject_class_concentration: float = 1.5
    subject_size_concentration: float = 3.0
    glasses_rate: float = 0.3
    shape_jitter: float = 0.02
    flow_iterations: int = 8
    amplitude_scale: float = 1.0
    appearance_contrast: float = 0.0

    def __post_init__(self) -> None:
        unknown = sorted(set(self.sources) - set(SOURCES))
        if unknown:
            raise unknown_name("SynthME source", unknown[0], SOURCES)
        if not self.sources:
            raise ConfigError("SynthConfig.sources is empty; expected at least one of " f"{list(SOURCES)!r}.")
        if not 0 < self.au_peak_px[0] <= self.au_peak_px[1]:
            raise ConfigError(f"au_peak_px must be (min, max) with 0 < min <= max; got {self.au_peak_px!r}.")
        for name in ("blink_rate", "glasses_rate"):
            v = getattr(self, name)
            if not 0 <= v <= 1:
                raise ConfigError(f"{name} must be a probability in [0, 1]; got {v!r}.")
        if self.flow_iterations < 1:
            raise ConfigError(f"flow_iterations must be >= 1; got {self.flow_iterations!r}.")
        if isinstance(self.amplitude_scale, bool) or not isinstance(self.amplitude_scale, (int, float)) \
                or not 0 < self.amplitude_scale < float("inf"):
            raise ConfigError(f"amplitude_scale must be a finite number > 0 (1 = the micro-expression default, "
                              f"8 = macro-like); got {self.amplitude_scale!r}.")
        if isinstance(self.appearance_contrast, bool) or not isinstance(self.appearance_contrast, (int, float)) \
                or not 0 <= self.appearance_contrast <= 1:
            raise ConfigError(f"appearance_contrast must be a relative luminance change in [0, 1] (0.05 = 5 % "
                              f"darker at a crease at the apex; 0 = none); got {self.appearance_contrast!r}.")

    @property
    def warp_iterations(self) -> int:
        """Fixed-point iterations the renderer uses: ``flow_iterations``, plus ``ceil(8 * log2(scale))``
        for ``amplitude_scale > 1`` (at 8x on ``full`` the default 8 leave errors of up to 13 grey
        levels in the warped frames; 32 bring them below 1)."""
        if self.amplitude_scale <= 1:
            return self.flow_iterations
        return self.flow_iterations + int(math.ceil(8 * math.log2(self.amplitude_scale)))

    def replace(self, **overrides: Any) -> SynthConfig:
        """Return a copy with top-level fields replaced.

        Per-source fields are set with dotted keys, e.g.
        ``cfg.replace(**{"casme2.n_subjects": 3, "samm.camera.noise_sigma": 0.0})``.

        Raises:
            ConfigError: for an unknown key (naming the closest valid key) or a bad value.
        """
        top: dict[str, Any] = {}
        sources = dict(self.sources)
        for key, value in overrides.items():
            head, _, rest = key.partition(".")
            if not rest:
                top[key] = _checked(key, value, SynthConfig)
                continue
            if head not in sources:
                raise ConfigError(f"override {key!r}: source {head!r} is not in this config; "
                                  f"valid sources: {sorted(sources)!r}.")
            sub, _, subrest = rest.partition(".")
            if subrest:
                if sub != "camera":
                    raise ConfigError(f"override {key!r}: only '<source>.camera.<field>' nests; got {sub!r}.")
                value = _checked(subrest, value, CameraConfig, prefix=f"{head}.camera.")
                cam = dataclasses.replace(sources[head].camera, **{subrest: value})
                sources[head] = dataclasses.replace(sources[head], camera=cam)
            else:
                sources[head] = dataclasses.replace(sources[head], **{sub: _checked(sub, value, SourceConfig,
                                                                                       prefix=f"{head}.")})
        top.setdefault("sources", sources)
        return dataclasses.replace(self, **top)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data view (for the manifest).

        ``amplitude_scale`` and ``appearance_contrast`` are left out at their defaults, so trees
        generated with the defaults keep the manifest they had before these knobs existed.
        """
        out = dataclasses.asdict(self)
        for name, default in _OPTIONAL_DEFAULTS.items():
            if out[name] == default:
                del out[name]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SynthConfig:
        """Rebuild a config from :meth:`to_dict` output (as read back from ``manifest.json``).

        Raises:
            ConfigError: for unknown or missing keys, or bad values.
        """
        try:
            raw = dict(data)
            sources = {}
            for name, src in dict(raw.pop("sources")).items():
                src = {k: _tuple(v) for k, v in src.items()}
                cam = CameraConfig(**{k: _tuple(v) for k, v in dict(src.pop("camera")).items()})
                sources[name] = SourceConfig(camera=cam, **src)
            return cls(sources=sources, **{k: _tuple(v) for k, v in raw.items()})
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"not a SynthME parameter set: {exc}.") from None


#: Fields that :meth:`SynthConfig.to_dict` omits at these defaults (added after generator 1.0).
_OPTIONAL_DEFAULTS: dict[str, Any] = {"amplitude_scale": 1.0, "appearance_contrast": 0.0}


def _tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _checked(key: str, value: Any, cls: type, prefix: str = "") -> Any:
    """``value`` for field ``key`` of ``cls``, read by the one options validator (:mod:`merkit._options`)."""
    types_ = field_types(cls)
    if key not in types_:
        raise ConfigError(f"unknown SynthME parameter {prefix}{key!r}; valid: {sorted(types_)!r}."
                          f"{did_you_mean(key, types_, prefix)}")
    return coerce(f"{prefix}{key}", value, types_[key])


_CASME2_CAM = dict(background_rgb=(0.78, 0.78, 0.8), jpeg_quality=88, noise_sigma=2.0, flicker=0.004)
_SAMM_CAM = dict(grayscale=True, background_rgb=(0.9, 0.9, 0.9), jpeg_quality=92, noise_sigma=1.5,
                 head_shift_px=1.2, flicker=0.002, contrast=1.05)
_SMIC_CAM = dict(image_format="bmp", background_rgb=(0.45, 0.42, 0.4), noise_sigma=4.5, shot_noise=0.05,
                 blur_sigma=0.8, contrast=0.85, brightness=0.9, head_shift_px=2.0, flicker=0.012,
                 illumination_drift=0.03)


def _preset(name: str, sizes: dict[str, dict[str, Any]], timing: dict[str, dict[str, Any]],
            counts: dict[str, tuple[int, tuple[int, int, int], int]], dlib_detectable: bool = True) -> SynthConfig:
    cams = {"casme2": _CASME2_CAM, "samm": _SAMM_CAM, "smic_hs": _SMIC_CAM}
    fps = {"casme2": 200.0, "samm": 200.0, "smic_hs": 100.0}
    sources = {}
    for src in SOURCES:
        n_sub, cls, n_other = counts[src]
        sources[src] = SourceConfig(
            n_subjects=n_sub, class_counts=cls, n_other=n_other if src != "smic_hs" else 0, fps=fps[src],
            camera=CameraConfig(**{**cams[src], **sizes[src]}), **timing[src],
        )
    return SynthConfig(name=name, sources=sources, dlib_detectable=dlib_detectable)


#: Built-in presets. ``full`` follows the MEGC2019 composite (442 clips, 68 subjects, per-source class
#: counts in docs/datasets.md, "MEGC2019 composite (megc2019_cde)"); ``small`` is the demo; ``tiny`` is for tests.
PRESETS: dict[str, SynthConfig] = {
    "tiny": _preset(
        "tiny",
        sizes={"casme2": dict(frame_size=(128, 96), iod_px=22.0), "samm": dict(frame_size=(144, 96), iod_px=23.0),
               "smic_hs": dict(frame_size=(112, 88), iod_px=20.0)},
        timing={"casme2": dict(duration_s=(0.04, 0.055), baseline_frames=(1, 2)),
                "samm": dict(duration_s=(0.04, 0.055), baseline_frames=(1, 2)),
                "smic_hs": dict(duration_s=(0.08, 0.11))},
        counts={"casme2": (2, (2, 1, 1), 1), "samm": (2, (2, 1, 1), 1), "smic_hs": (2, (2, 1, 1), 0)},
        dlib_detectable=False,  # 46 px faces: below dlib's 80 px HOG window; use ground-truth landmarks
    ),
    "small": _preset(
        "small",
        sizes={"casme2": dict(frame_size=(240, 180), iod_px=48.0), "samm": dict(frame_size=(288, 176), iod_px=50.0),
               "smic_hs": dict(frame_size=(208, 160), iod_px=44.0)},
        timing={"casme2": dict(duration_s=(0.06, 0.095), baseline_frames=(1, 2)),
                "samm": dict(duration_s=(0.06, 0.095), baseline_frames=(1, 2)),
                "smic_hs": dict(duration_s=(0.12, 0.19))},
        counts={"casme2": (5, (14, 6, 4), 2), "samm": (5, (14, 5, 3), 2), "smic_hs": (4, (12, 5, 4), 0)},
    ),
    "full": _preset(
        "full",
        sizes={"casme2": dict(frame_size=(320, 240), iod_px=64.0), "samm": dict(frame_size=(400, 224), iod_px=62.0),
               "smic_hs": dict(frame_size=(256, 192), iod_px=52.0)},
        timing={"casme2": dict(duration_s=(0.15, 0.35), baseline_frames=(2, 4)),
                "samm": dict(duration_s=(0.15, 0.35), baseline_frames=(2, 4)),
                "smic_hs": dict(duration_s=(0.15, 0.4))},
        counts={"casme2": (24, (88, 32, 25), 20), "samm": (28, (92, 26, 15), 10), "smic_hs": (16, (70, 51, 43), 0)},
    ),
}


def list_presets() -> list[str]:
    """Names of the built-in presets, sorted."""
    return sorted(PRESETS)


def get_preset(name: str) -> SynthConfig:
    """Return the built-in preset ``name``.

    Raises:
        UnknownNameError: for an unknown preset, naming the closest one.
    """
    if name not in PRESETS:
        raise unknown_name("SynthME preset", name, PRESETS)
    return PRESETS[name]

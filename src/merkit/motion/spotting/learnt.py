"""A learnt spotter: per-frame ROI-flow features -> a regressed expression score -> intervals.

``docs/spotting.md`` ("Learnt spotter") describes the method; in short, per expression type
(a *head*: ``micro``, ``macro``):

* **Target** (pseudo-labels from the overlap of a window with the annotated intervals, in the
  manner of SoftNet, Liong et al. 2021): frame ``t`` is labelled with the largest IoU between
  the window ``[t - h, t + h]`` and an annotated interval of the head's type. The window's
  half-width ``h`` is half the median length of the training intervals of that type, so the
  target peaks where an interval ``[t - h, t + h]`` would match the annotation best, and the
  curve can be read directly as "how well would an interval centred here score".
* **Model**: the features of :mod:`.learnt_features` standardised, then a ridge regression or
  a one-hidden-layer MLP (scikit-learn). The fitted model is plain arrays (scaler, weights)
  evaluated by one numpy forward pass, so a saved model (``spotter.json`` + ``spotter.npz``,
  no pickle) predicts exactly what the fitted one did.
* **Curve -> intervals**: the prediction is smoothed by a centred moving average of
  ``smooth_s``; local maxima above the head's threshold and at least ``h`` apart are apexes;
  each gives ``[apex - h, apex + h]``. The two heads' intervals are merged, an overlap keeping
  the one higher above its own threshold.
* **Threshold**: chosen on the training videos only, as the value of a fixed grid that
  maximises the pooled MEGC F1 (IoU >= 0.5) of the head's type. With
  ``threshold_choice="inner"`` (default) the curves it is chosen on are out-of-fold: each
  training subject's curves come from a model fitted on the other training subjects, as the
  held-out subject's will; ``"train"`` uses the final model's curves on its own training videos
  (optimistic, cheaper).

Randomness (the MLP's initialisation and batch order) comes from ``seed`` only.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from scipy.ndimage import uniform_filter1d
from scipy.signal import find_peaks
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Ridge
from sklearn.neural_network import MLPRegressor
from sklearn.preprocessing import StandardScaler

from merkit._io import atomic_path, write_json
from merkit.errors import ConfigError, ShapeError
from merkit.motion.spotting.intervals import SpottedInterval, noise_level
from merkit.motion.spotting.learnt_features import VideoFeatures

__all__ = ["LearntSpotConfig", "LearntSpotter", "HeadModel", "LabelledVideo", "REGRESSORS", "THRESHOLD_CHOICES",
           "fit_spotter", "load_spotter", "head_targets", "choose_threshold", "megc_counts"]

#: Regressors of a head.
REGRESSORS = ("ridge", "mlp")
#: Where a head's threshold is chosen (module docstring).
THRESHOLD_CHOICES = ("inner", "train")
#: Units of a head's threshold: noise levels of the video's own curve, or curve values.
THRESHOLD_UNITS = ("noise", "absolute")
_GRIDS = {"noise": tuple(round(0.5 * i, 1) for i in range(2, 41)),
          "absolute": tuple(round(0.01 * i, 2) for i in range(1, 100))}
_FORMAT = "merkit.learnt_spotter/1"


@dataclass(frozen=True)
class LearntSpotConfig:
    """Options of the learnt spotter (the flow features' own options are :class:`SpotConfig` fields).

    Attributes:
        regressor: ``"mlp"`` (one hidden layer, ReLU) or ``"ridge"``.
        hidden_units: MLP hidden layer width.
        alpha: L2 penalty (ridge ``alpha``; MLP weight decay).
        max_iter: MLP epochs (Adam); a fixed budget, no early stopping on held-out data.
        context_s: also feed the features of the frames ``context_s`` seconds before and after
            (0: the frame's own features only).
        smooth_s: width of the moving average applied to the predicted curve, seconds.
        threshold_choice: ``"inner"`` (out-of-fold curves of the training subjects) or ``"train"``.
        threshold_units: ``"noise"``: a threshold is ``median + z * sigma`` of each video's own
            predicted curve (``sigma = 1.4826 MAD``, as the fixed-threshold methods' noise rule),
            ``z`` chosen; ``"absolute"``: a value of the curve (target IoU).
        thresholds: the grid the threshold is chosen from (empty: ``z`` = 1, 1.5, ..., 20 for
            ``noise``, 0.01 ... 0.99 for ``absolute``).
        seeds: seeds of the repeated runs (one model per seed; the MLP only depends on them).
    """

    regressor: str = "mlp"
    hidden_units: int = 32
    alpha: float = 1e-3
    max_iter: int = 150
    context_s: float = 0.0
    smooth_s: float = 0.1
    threshold_choice: str = "inner"
    threshold_units: str = "noise"
    thresholds: tuple[float, ...] = ()
    seeds: tuple[int, ...] = (0, 1, 2)

    def __post_init__(self) -> None:
        for name, value, choices in (("regressor", self.regressor, REGRESSORS),
                                     ("threshold_choice", self.threshold_choice, THRESHOLD_CHOICES),
                                     ("threshold_units", self.threshold_units, THRESHOLD_UNITS)):
            if value not in choices:
                raise ConfigError(f"LearntSpotConfig.{name} must be one of {list(choices)!r}; got {value!r}.")
        if self.hidden_units < 1 or self.max_iter < 1:
            raise ConfigError(f"LearntSpotConfig.hidden_units and max_iter must be >= 1; got {self.hidden_units!r}, "
                              f"{self.max_iter!r}.")
        if not self.alpha >= 0 or not self.context_s >= 0 or not self.smooth_s >= 0:
            raise ConfigError(f"LearntSpotConfig.alpha, context_s and smooth_s must be >= 0; got {self.alpha!r}, "
                              f"{self.context_s!r}, {self.smooth_s!r}.")
        if not self.seeds:
            raise ConfigError("LearntSpotConfig.seeds must not be empty.")

    @property
    def grid(self) -> tuple[float, ...]:
        """The threshold grid in use (``thresholds`` or the default of ``threshold_units``)."""
        return tuple(self.thresholds) or _GRIDS[self.threshold_units]


@dataclass(frozen=True)
class LabelledVideo:
    """A training video: its features, its annotated intervals and its subject.

    Attributes:
        features: :class:`VideoFeatures` of the video.
        intervals: ``(onset, offset, kind)`` 0-based inclusive positions in the *video's* frames.
        group: the subject (inner folds leave one group out).
    """

    features: VideoFeatures
    intervals: tuple[tuple[int, int, str], ...]
    group: str


@dataclass
class HeadModel:
    """One expression type's regressor and interval rule.

    Attributes:
        kind: ``'micro'`` or ``'macro'``.
        half_s: half-width ``h`` of the target window and of a spotted interval, seconds.
        threshold: apex threshold on the smoothed curve (``threshold_units`` of the config).
        mean, scale: (F,) standardisation of the inputs.
        weights, biases: the layers, input first; ReLU between layers, linear output.
        train_f1: pooled F1 at the chosen threshold on the curves it was chosen on.
    """

    kind: str
    half_s: float
    threshold: float
    mean: np.ndarray
    scale: np.ndarray
    weights: list[np.ndarray]
    biases: list[np.ndarray]
    train_f1: float = 0.0

    def forward(self, x: np.ndarray) -> np.ndarray:
        """(N, F) inputs -> (N,) predicted target."""
        a = (np.asarray(x, np.float64) - self.mean) / self.scale
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            a = a @ w + b
            if i < len(self.weights) - 1:
                a = np.maximum(a, 0.0)
        return a[:, 0]


@dataclass
class LearntSpotter:
    """A fitted learnt spotter.

    Attributes:
        config: the learnt options it was fitted with.
        spot_options: the :class:`SpotConfig` fields of its features (a plain dict).
        names: the feature columns it expects (:func:`~.learnt_features.frame_features`).
        heads: kind -> :class:`HeadModel`.
        seed: the seed it was fitted with.
    """

    config: LearntSpotConfig
    spot_options: dict
    names: list[str]
    heads: dict[str, HeadModel]
    seed: int = 0
    extra: dict = field(default_factory=dict)

    def _check(self, features: VideoFeatures) -> None:
        if list(features.names) != list(self.names):
            raise ShapeError(f"{features.name!r}: its features ({len(features.names)} columns) are not the ones this "
                             f"spotter was fitted on ({len(self.names)}); extract them with the same SpotConfig.")

    def curves(self, features: VideoFeatures) -> dict[str, np.ndarray]:
        """kind -> (T,) smoothed predicted curve on the analysed timeline, NaN where the frame has no features."""
        self._check(features)
        x = _inputs(features, self.config.context_s)
        return {kind: _smooth(head.forward(x), features, self.config.smooth_s) for kind, head in self.heads.items()}

    def spot(self, features: VideoFeatures) -> list[SpottedInterval]:
        """Spotted intervals, 0-based positions of the video's own frames, sorted by onset.

        ``score`` is the curve at the apex; ``strength`` its height over the threshold's level,
        ``score / level`` (absolute units) or ``(score - median) / sigma`` (noise units); an overlap
        of the two heads keeps the larger strength over the head's own threshold.
        """
        found = []
        units = self.config.threshold_units
        for kind, curve in self.curves(features).items():
            head = self.heads[kind]
            half = _half_frames(head.half_s, features.fps)
            for on, apex, off, score, strength in _intervals(curve, head.threshold, half, units):
                found.append(SpottedInterval(on, apex, off, score, strength / max(head.threshold, 1e-9), kind))
        kept: list[SpottedInterval] = []
        # macro first: a macro-expression also moves the micro head's features (its rise and its fall),
        # while a micro-expression is too small to raise the macro head over its threshold
        for cand in sorted(found, key=lambda i: (i.kind != "macro", -i.strength)):
            if all(cand.offset < i.onset or cand.onset > i.offset for i in kept):
                kept.append(cand)
        step, last = features.step, features.n_video_frames - 1
        out = [SpottedInterval(i.onset * step, i.apex * step, min(last, i.offset * step + step - 1), i.score,
                               i.strength, i.kind) for i in kept]
        return sorted(out, key=lambda i: i.onset)

    def save(self, directory: str | os.PathLike) -> Path:
        """Write ``spotter.json`` (options, heads, thresholds) and ``spotter.npz`` (arrays) atomically."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        arrays, heads = {}, {}
        for kind, h in self.heads.items():
            arrays[f"{kind}/mean"], arrays[f"{kind}/scale"] = h.mean, h.scale
            for i, (w, b) in enumerate(zip(h.weights, h.biases)):
                arrays[f"{kind}/w{i}"], arrays[f"{kind}/b{i}"] = w, b
            heads[kind] = {"half_s": h.half_s, "threshold": h.threshold, "layers": len(h.weights),
                           "train_f1": h.train_f1}
        with atomic_path(out / "spotter.npz") as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
        write_json(out / "spotter.json", {"format": _FORMAT, "config": asdict(self.config),
                                          "spot_options": self.spot_options, "names": self.names, "heads": heads,
                                          "seed": self.seed, "extra": self.extra})
        return out


def load_spotter(directory: str | os.PathLike) -> LearntSpotter:
    """Read a spotter written by :meth:`LearntSpotter.save` (``allow_pickle=False``).

    Raises:
        ConfigError: the folder holds no spotter, or one of another format.
    """
    path = Path(directory)
    meta_path, array_path = path / "spotter.json", path / "spotter.npz"
    if not meta_path.is_file() or not array_path.is_file():
        raise ConfigError(f"{str(path)!r} holds no learnt spotter; expected spotter.json and spotter.npz there.")
    meta = json.loads(meta_path.read_text())
    if meta.get("format") != _FORMAT:
        raise ConfigError(f"{str(meta_path)!r} has format {meta.get('format')!r}; expected {_FORMAT!r}.")
    raw = dict(meta["config"])
    raw["thresholds"], raw["seeds"] = tuple(raw["thresholds"]), tuple(raw["seeds"])
    with np.load(array_path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    heads = {}
    for kind, h in meta["heads"].items():
        n = int(h["layers"])
        heads[kind] = HeadModel(kind, float(h["half_s"]), float(h["threshold"]), arrays[f"{kind}/mean"],
                                arrays[f"{kind}/scale"], [arrays[f"{kind}/w{i}"] for i in range(n)],
                                [arrays[f"{kind}/b{i}"] for i in range(n)], float(h.get("train_f1", 0.0)))
    return LearntSpotter(LearntSpotConfig(**raw), dict(meta["spot_options"]), list(meta["names"]), heads,
                         int(meta["seed"]), dict(meta.get("extra", {})))


def _half_frames(half_s: float, fps: float) -> int:
    return max(1, int(round(half_s * fps)))


def _inputs(features: VideoFeatures, context_s: float) -> np.ndarray:
    """(T, F) or (T, 3F) model inputs: unknown values at the resting level 0, context columns appended."""
    x = np.nan_to_num(np.asarray(features.values, np.float64), nan=0.0)
    c = int(round(context_s * features.fps))
    if c <= 0:
        return x
    n = len(x)
    before = x[np.clip(np.arange(n) - c, 0, n - 1)]
    after = x[np.clip(np.arange(n) + c, 0, n - 1)]
    return np.concatenate([x, before, after], axis=1)


def _smooth(pred: np.ndarray, features: VideoFeatures, smooth_s: float) -> np.ndarray:
    width = max(1, int(round(smooth_s * features.fps)))
    curve = uniform_filter1d(pred, width | 1, mode="nearest") if width > 1 else pred.copy()
    curve[~features.valid] = np.nan
    return curve


def _intervals(curve: np.ndarray, threshold: float, half: int,
               units: str = "absolute") -> list[tuple[int, int, int, float, float]]:
    """``(onset, apex, offset, score, strength)`` around the maxima of ``curve`` above the threshold's level,
    at least ``half`` apart (strength: in ``units`` of the threshold)."""
    finite = np.isfinite(curve)
    if not finite.any():
        return []
    if units == "noise":
        median, sigma = noise_level(curve)
        level = median + threshold * sigma
    else:
        median, sigma, level = 0.0, 1.0, threshold
    filled = np.where(finite, curve, -np.inf)
    peaks, _ = find_peaks(filled, height=level, distance=max(1, half))
    n = len(curve)
    return [(max(0, int(p) - half), int(p), min(n - 1, int(p) + half), float(curve[p]),
             float((curve[p] - median) / sigma)) for p in peaks]


def head_targets(n: int, intervals: Sequence[tuple[int, int]], half: int) -> np.ndarray:
    """(n,) target: per frame the largest IoU of ``[t - half, t + half]`` with one of ``intervals`` (0 elsewhere).

    Args:
        n: frames.
        intervals: ``(onset, offset)`` inclusive positions of one expression type.
        half: half-width of the window, frames (>= 0).
    """
    t = np.arange(n)
    out = np.zeros(n)
    for on, off in intervals:
        inter = np.minimum(t + half, off) - np.maximum(t - half, on) + 1
        union = (2 * half + 1) + (off - on + 1) - np.maximum(inter, 0)
        out = np.maximum(out, np.where(inter > 0, inter / union, 0.0))
    return out


def megc_counts(predictions: Sequence[tuple[int, int, float]], truth: Sequence[tuple[int, int]],
                iou: float = 0.5) -> tuple[int, int, int]:
    """TP, FP, FN of one video and type by the MEGC rule (``merkit.evaluation.spotting``).

    Predictions ``(onset, offset, score)`` in order of decreasing score each take the free
    ground-truth interval of largest IoU >= ``iou``; the rest are false positives.
    """
    free = [True] * len(truth)
    tp = fp = 0
    for on, off, _ in sorted(predictions, key=lambda p: -p[2]):
        best, best_iou = -1, 0.0
        for j, (g_on, g_off) in enumerate(truth):
            inter = min(off, g_off) - max(on, g_on) + 1
            if free[j] and inter > 0:
                value = inter / ((off - on + 1) + (g_off - g_on + 1) - inter)
                if value >= iou and value > best_iou:
                    best, best_iou = j, value
        if best >= 0:
            free[best] = False
            tp += 1
        else:
            fp += 1
    return tp, fp, sum(free)


def choose_threshold(curves: Sequence[np.ndarray], truths: Sequence[Sequence[tuple[int, int]]],
                     halves: Sequence[int], grid: Sequence[float], units: str = "absolute",
                     blocked: Sequence[Sequence[tuple[int, int]]] | None = None) -> tuple[float, float]:
    """The grid value whose intervals give the best pooled F1 over the videos; returns ``(threshold, f1)``.

    Args:
        curves: per video, (T,) curve.
        truths: per video, ``(onset, offset)`` of the head's type.
        halves: per video, the half-width of an interval, frames.
        grid: candidate thresholds.
        units: ``"noise"`` or ``"absolute"``.
        blocked: per video, intervals that win an overlap (the macro head's, for the micro head),
            so the threshold is chosen on what :meth:`LearntSpotter.spot` will report.

    Ties keep the median of the tied values (the middle of a plateau, not its edge).
    """
    blocked = blocked or [[] for _ in curves]
    scores = []
    for thr in grid:
        tp = fp = fn = 0
        for curve, truth, half, block in zip(curves, truths, halves, blocked):
            found = [(on, off, s) for on, _, off, s, _ in _intervals(curve, thr, half, units)
                     if all(off < b_on or on > b_off for b_on, b_off in block)]
            a, b, c = megc_counts(found, truth)
            tp, fp, fn = tp + a, fp + b, fn + c
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    scores_arr = np.asarray(scores)
    best = np.flatnonzero(scores_arr == scores_arr.max())
    pick = int(best[len(best) // 2])
    return float(grid[pick]), float(scores_arr[pick])


def _timeline(video: LabelledVideo, kind: str) -> list[tuple[int, int]]:
    """The video's intervals of ``kind`` on its analysed timeline."""
    s = video.features.step
    return [(on // s, off // s) for on, off, k in video.intervals if k == kind]


def _fit_layers(x: np.ndarray, y: np.ndarray, config: LearntSpotConfig, seed: int) -> tuple:
    scaler = StandardScaler().fit(x)
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    xs = (x - scaler.mean_) / scale
    if config.regressor == "ridge":
        model = Ridge(alpha=config.alpha).fit(xs, y)
        return scaler.mean_, scale, [model.coef_.reshape(-1, 1)], [np.atleast_1d(float(model.intercept_))]
    model = MLPRegressor(hidden_layer_sizes=(config.hidden_units,), alpha=config.alpha, max_iter=config.max_iter,
                         random_state=seed, batch_size=256)
    with warnings.catch_warnings():
        # the epoch budget is fixed on purpose (no early stopping on held-out frames)
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(xs, y)
    return scaler.mean_, scale, [np.asarray(w) for w in model.coefs_], [np.asarray(b) for b in model.intercepts_]


def _fit_head(videos: Sequence[LabelledVideo], kind: str, half_s: float, config: LearntSpotConfig,
              seed: int) -> HeadModel:
    xs, ys = [], []
    for v in videos:
        f = v.features
        xs.append(_inputs(f, config.context_s)[f.valid])
        ys.append(head_targets(f.n_frames, _timeline(v, kind), _half_frames(half_s, f.fps))[f.valid])
    mean, scale, weights, biases = _fit_layers(np.concatenate(xs), np.concatenate(ys), config, seed)
    return HeadModel(kind, half_s, float("nan"), mean, scale, weights, biases)


def _curves_of(head: HeadModel, videos: Sequence[LabelledVideo], config: LearntSpotConfig) -> list[np.ndarray]:
    return [_smooth(head.forward(_inputs(v.features, config.context_s)), v.features, config.smooth_s)
            for v in videos]


def fit_spotter(videos: Sequence[LabelledVideo], config: LearntSpotConfig | None = None, *, seed: int = 0,
                spot: dict | None = None) -> LearntSpotter:
    """Fit one head per expression type annotated in ``videos`` and choose its threshold on them.

    Args:
        videos: the training videos (features from one SpotConfig, intervals, subjects).
        config: learnt options.
        seed: seed of the MLP's initialisation and batch order.
        spot: the SpotConfig fields the features were extracted with (kept in the saved model).

    Returns:
        :class:`LearntSpotter`; a type with no training interval gets no head.

    Raises:
        ConfigError: no video, no annotated interval, features of different columns, or
            ``threshold_choice="inner"`` with fewer than two training subjects.
    """
    config = config or LearntSpotConfig()
    if not videos:
        raise ConfigError("the learnt spotter needs at least one training video.")
    names = list(videos[0].features.names)
    for v in videos:
        if list(v.features.names) != names:
            raise ConfigError(f"{v.features.name!r} has other feature columns than {videos[0].features.name!r}; "
                              f"extract every video with the same SpotConfig.")
    groups = sorted({v.group for v in videos})
    if config.threshold_choice == "inner" and len(groups) < 2:
        raise ConfigError(f"threshold_choice='inner' needs at least two training subjects (it leaves one out); got "
                          f"{groups!r}. Use threshold_choice='train' or more subjects.")
    heads: dict[str, HeadModel] = {}
    blocked = None
    for kind in ("macro", "micro"):  # the macro head's intervals win overlaps (LearntSpotter.spot)
        lengths = [(off - on + 1) / (v.features.fps * v.features.step) for v in videos
                   for on, off, k in v.intervals if k == kind]
        if not lengths:
            continue
        half_s = float(np.median(lengths)) / 2
        head = _fit_head(videos, kind, half_s, config, seed)
        if config.threshold_choice == "inner":
            curves, chosen_on = [], []
            for g in groups:
                inner = _fit_head([v for v in videos if v.group != g], kind, half_s, config, seed)
                held = [v for v in videos if v.group == g]
                curves += _curves_of(inner, held, config)
                chosen_on += held
        else:
            curves, chosen_on = _curves_of(head, videos, config), list(videos)
        halves = [_half_frames(half_s, v.features.fps) for v in chosen_on]
        head.threshold, head.train_f1 = choose_threshold(
            curves, [_timeline(v, kind) for v in chosen_on], halves, config.grid, config.threshold_units,
            blocked if kind == "micro" else None)
        if kind == "macro":
            blocked = [[(on, off) for on, _, off, _, _ in _intervals(c, head.threshold, h, config.threshold_units)]
                       for c, h in zip(curves, halves)]
        heads[kind] = head
    if not heads:
        raise ConfigError("the training videos hold no annotated micro- or macro-expression; nothing to learn.")
    return LearntSpotter(config, dict(spot or {}), names, heads, int(seed))

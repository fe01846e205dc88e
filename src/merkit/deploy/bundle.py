"""Model bundles: a trained model that leaves the run, describes itself and predicts on new clips.

A bundle is a folder (``docs/training.md``, "Model bundles")::

    card.json           what the model is: method, model and options, classes, input kind and
                        preprocessing (face alignment, flow backend, sizes, frames used), training
                        data summary, metrics if the run was evaluated, merkit version
    weights.safetensors every array of the fitted model (network weights; an SVC as the rows it
                        was fitted on, refitted exactly on load)

Nothing in a bundle is executed on load: the card is JSON and the arrays are
safetensors (no pickle). The bundle is written into a temporary folder beside
the target and renamed into place, so a crash never leaves half a bundle.

:func:`fit_final_model` trains the deployable model on every sample of a
table (the fold models of an evaluation each missed one subject);
:func:`save_bundle` writes it; :func:`load_model` returns a
:class:`LoadedModel` whose :meth:`~LoadedModel.predict` takes a folder of
frames or an array of frames and computes the method's inputs exactly as in
training, from the card.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import cv2
import numpy as np
import pandas as pd
from safetensors.numpy import load_file, save_file

from merkit._io import plain_data
from merkit._options import build
from merkit._version import __version__
from merkit.data.frames import list_image_files
from merkit.data.sample import Sample, samples_to_table
from merkit.deploy.onnx import OnnxNetwork
from merkit.deploy.video import predict_video
from merkit.errors import ConfigError, DatasetNotFoundError, ShapeError
from merkit.evaluation.protocols import Fold, inner_validation_split
from merkit.evaluation.runner import FoldTask, fold_seed, seed_everything
from merkit.inputs.config import FeatureConfig
from merkit.motion.keyframes import MotionPeakApex
from merkit.training.methods import get_method
from merkit.training.settings import TrainConfig

__all__ = ["BUNDLE_FORMAT", "fit_final_model", "save_bundle", "load_model", "LoadedModel", "preprocessing_summary",
           "method_from_card"]

#: Version of the bundle layout; bumped when the card or the array naming changes incompatibly.
BUNDLE_FORMAT = 1
CARD = "card.json"
WEIGHTS = "weights.safetensors"

_FRAMES_USED = {
    "flow_uv_strain": "onset and apex (onset -> apex optical flow and optical strain)",
    "flow_uv": "onset and apex (onset -> apex optical flow)",
    "flow_uv_strain_uniform2": "onset and 2 frames spread evenly up to the offset",
    "flow_uv_strain_uniform4": "onset and 4 frames spread evenly up to the offset",
    "rgb_apex": "the apex frame",
    "biwoof": "onset and apex (onset -> apex optical flow and strain)",
    "lbptop": "every frame from onset to offset",
    "gray_clip": "frames sampled uniformly over the clip (MOL clips)",
    "gray_apex_masked": "the apex frame (grey, eyes masked)",
    "flow_image_then_masked_face": "onset and apex (flow image), apex face (grey, masked)",
}


def preprocessing_summary(input_kind: str, features: Any, method_options: dict) -> dict:
    """What a clip goes through before the model, for the card (human-readable and exact settings)."""
    return {
        "face_alignment": "dlib 68 landmarks on the onset frame, eye line horizontal, one transform for every frame"
        if getattr(features, "align", True) else "none (frames used as they are)",
        "flow_backend": getattr(features, "flow", ""),
        "face_size": getattr(features, "face_size", None),
        "input_size": getattr(features, "size", None) if input_kind.startswith("flow_uv") else
        getattr(features, "rgb_size", None) if input_kind == "rgb_apex" else method_options.get("size"),
        "frames_used": _FRAMES_USED.get(input_kind, input_kind),
    }


def _training_summary(table: pd.DataFrame) -> dict:
    counts = table["label"].value_counts().sort_index()
    return {
        "samples": int(len(table)),
        "subjects": int(table["subject_key"].nunique()) if "subject_key" in table else None,
        "datasets": sorted(str(d) for d in table["dataset"].unique()) if "dataset" in table else [],
        "class_counts": {str(k): int(v) for k, v in counts.items()},
    }


def fit_final_model(method: Any, table: pd.DataFrame, classes: Sequence[str], seed: int, val_fraction: float = 0.2):
    """Train ``method`` on every row of ``table`` (inputs already prepared); returns the fitted model.

    With a fixed schedule every row trains. With early stopping (or any selection) the validation
    rows are drawn from the table's subjects, by subject, as in a fold (``inner_validation_split``).
    """
    rows = np.arange(len(table))
    fold = Fold("all_subjects", rows, rows[:0])
    fit_idx, val_idx = inner_validation_split(table, rows, val_fraction, seed=fold_seed(seed, fold.name))
    seed_everything(fold_seed(seed, fold.name))
    return method.fit(table, FoldTask(fold, int(seed), fit_idx, val_idx, tuple(classes)))


def save_bundle(
    path: str | os.PathLike,
    method: Any,
    fitted: Any,
    *,
    table: pd.DataFrame,
    label_set: str,
    metrics: dict | None = None,
    seed: int = 0,
    config: dict | None = None,
) -> Path:
    """Write ``fitted`` (trained by ``method`` on ``table``) as a bundle folder at ``path`` (replaced if present).

    Args:
        path: the bundle folder.
        method: the :class:`~merkit.training.methods.base.Method` (its card and settings).
        fitted: its fitted model.
        table: the rows it was trained on (summarised in the card).
        label_set: the protocol's label set.
        metrics: the evaluation's ``summary`` when the run was evaluated.
        seed: the training seed.
        config: the full experiment config (recorded for provenance).

    Returns:
        The bundle path.
    """
    path = Path(path)
    arrays = {k: np.ascontiguousarray(v) for k, v in fitted.state_arrays().items()}
    bad = [k for k, v in arrays.items() if v.dtype.kind not in "biuf"]
    if bad:
        raise ShapeError(f"model bundle: arrays {bad!r} are not numeric; a bundle stores numeric arrays only.")
    features = {k: v for k, v in dataclasses.asdict(method.features).items() if k not in ("cache_dir", "workers")}
    train = {k: v for k, v in dataclasses.asdict(method.train).items() if k not in ("progress", "threads")}
    card = {
        "bundle_format": BUNDLE_FORMAT,
        **method.card(),
        "classes": list(fitted.classes),
        "label_set": label_set,
        "features": features,
        "train": plain_data(train),
        "fitted": fitted.state_info(),
        "preprocessing": preprocessing_summary(method.input_kind, method.features, method.card()["method_options"]),
        "training_data": _training_summary(table),
        "seed": int(seed),
        "metrics": metrics,
        "merkit_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "config": config,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        save_file(arrays, str(tmp / WEIGHTS), metadata={"format": "merkit-bundle", "bundle_format": str(BUNDLE_FORMAT)})
        (tmp / CARD).write_text(json.dumps(plain_data(card), indent=2, sort_keys=True) + "\n")
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old.", dir=path.parent))
            os.replace(path, old / "bundle")
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path



class LoadedModel:
    """A model read from a bundle (:func:`load_model`).

    Attributes:
        card: the bundle's ``card.json``.
        classes: class names, the order of the probabilities.
        method: the rebuilt method (its settings compute the inputs exactly as in training).
        fitted: the fitted model.
    """

    def __init__(self, path: Path, card: dict, method: Any, fitted: Any) -> None:
        self.path = path
        self.card = card
        self.classes = tuple(card["classes"])
        self.method = method
        self.fitted = fitted
        self._onnx = None

    def __repr__(self) -> str:
        return (f"LoadedModel({str(self.path)!r}, method={self.card['method']!r}, model={self.card['model']!r}, "
                f"classes={list(self.classes)!r})")

    def predict(
        self,
        clip: str | os.PathLike | np.ndarray,
        *,
        onset: int = 0,
        apex: int | None = None,
        offset: int | None = None,
        fps: float = 30.0,
        backend: str = "torch",
    ) -> pd.Series:
        """Class probabilities of one clip.

        Args:
            clip: a folder of frame images (numerically ordered), or frames as an array
                ``(T, H, W, 3)`` uint8 RGB or ``(T, H, W)`` uint8 grey (e.g. an aligned clip's frames).
            onset, apex, offset: 0-based frame positions; ``offset`` defaults to the last frame and
                ``apex`` to the frame of peak motion between onset and offset
                (:class:`merkit.motion.keyframes.MotionPeakApex`).
            fps: frame rate of the clip.
            backend: ``"torch"``, ``"onnx"`` (the bundle's exported graph through onnxruntime;
                ``merkit export BUNDLE --format onnx`` writes it) or ``"onnx-int8"`` (``--int8``).

        Returns:
            Probabilities indexed by class name (sum 1).

        Raises:
            DatasetNotFoundError: the folder does not exist or holds no frame images.
            ShapeError: an array of the wrong shape, or onset/apex/offset outside the clip.
        """
        with tempfile.TemporaryDirectory(prefix="merkit-predict-") as tmp:
            frames = _frame_files(clip, Path(tmp))
            table = _one_clip_table(frames, onset, apex, offset, fps)
            inputs = self.method.prepare(table)
            proba = self.predict_inputs(inputs.take(table["sample_key"].tolist()), backend)
        return pd.Series(np.asarray(proba[0], dtype=np.float64), index=list(self.classes), name="probability")


    def predict_video(self, source: str | os.PathLike, *, spot_config: Any = None, fps: float | None = None,
                      backend: str = "torch") -> pd.DataFrame:
        """Spot expressions in a video (or frame folder) and classify each interval; one row per interval.

        Columns: onset, apex, offset (frame numbers from 1), kind (micro/macro), spot_score, spot_strength,
        status, class, ``prob_<class>``. See :func:`merkit.deploy.video.predict_video`.
        """
        return predict_video(self, source, spot_config=spot_config, fps=fps, backend=backend)[0]

    def predict_inputs(self, inputs: Any, backend: str = "torch") -> np.ndarray:
        """``(M, K)`` probabilities of already computed inputs (rows of the method's inputs).

        ``backend``: ``"torch"``, ``"onnx"`` (the exported graph) or ``"onnx-int8"`` (its dynamic int8
        version, ``merkit export --int8``; its measured cost is in the card).
        """
        if backend == "torch":
            return self.fitted.predict_proba(inputs)
        if backend not in ("onnx", "onnx-int8"):
            raise ConfigError(f"backend must be 'torch', 'onnx' or 'onnx-int8'; got {backend!r}.")
        entry = self.card.get("onnx")
        if entry is None or (backend == "onnx-int8" and "int8" not in entry):
            flag = " --int8" if backend == "onnx-int8" else ""
            raise ConfigError(f"bundle {str(self.path)!r} has no {backend} graph; run `merkit export {self.path} "
                              f"--format onnx{flag}` first.")
        if self._onnx is None or self._onnx[0] != backend:
            file = entry["int8"]["file"] if backend == "onnx-int8" else entry["file"]
            self._onnx = (backend, OnnxNetwork(self.path / file))
        return self.fitted.predict_proba(inputs, network=self._onnx[1])


def _frame_files(clip: str | os.PathLike | np.ndarray, tmp: Path) -> list[str]:
    if isinstance(clip, np.ndarray):
        if clip.ndim not in (3, 4) or (clip.ndim == 4 and clip.shape[-1] != 3) or len(clip) < 2:
            raise ShapeError(f"clip frames must be (T, H, W, 3) RGB or (T, H, W) grey with T >= 2; got {clip.shape}.")
        frames = np.asarray(clip)
        if frames.dtype != np.uint8:
            raise ShapeError(f"clip frames must be uint8 images; got dtype {frames.dtype}.")
        paths = []
        for i, frame in enumerate(frames):
            target = tmp / f"{i:06d}.png"  # lossless: the inputs are computed from exactly these pixels
            image = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR) if frame.ndim == 3 else frame
            if not cv2.imwrite(str(target), image):
                raise ShapeError(f"frame {i} of the clip could not be encoded as PNG.")
            paths.append(str(target))
        return paths
    folder = Path(clip)
    if not folder.is_dir():
        raise DatasetNotFoundError(f"clip folder {str(folder)!r} does not exist; give a folder of frame images.")
    files = [str(p) for p in list_image_files(folder)]
    if len(files) < 2:
        raise DatasetNotFoundError(
            f"clip folder {str(folder)!r} holds {len(files)} frame image(s); expected at least 2.")
    return files


def _one_clip_table(frames: list[str], onset: int, apex: int | None, offset: int | None, fps: float) -> pd.DataFrame:
    last = len(frames) - 1
    offset = last if offset is None else int(offset)
    if not 0 <= onset < offset <= last:
        raise ShapeError(f"expected 0 <= onset < offset <= {last} (0-based frame positions); "
                         f"got onset={onset}, offset={offset}.")
    if apex is None:
        context = SimpleNamespace(frame_numbers=list(range(onset, offset + 1)), frame_paths=frames[onset:offset + 1],
                                  sample_key="input/clip/clip")
        apex = int(MotionPeakApex()(context))
    if not onset <= apex <= offset:
        raise ShapeError(f"apex {apex} is outside [onset, offset] = [{onset}, {offset}].")
    sample = Sample("input", "clip", "clip", tuple(frames), tuple(range(len(frames))), onset, int(apex), offset,
                    float(fps), label=None)
    return samples_to_table([sample])


def method_from_card(card: dict, train: Any = None, features: Any = None) -> Any:
    """Rebuild the Method a model bundle was trained with, from its card (no code is executed)."""
    cls = get_method(card["method"])
    options = build(cls.options_class, card.get("method_options", {}), "method_options", source="model card")
    features = features or build(FeatureConfig, card.get("features", {}), "features", source="model card")
    train = train or build(TrainConfig, card.get("train", {}), "train", source="model card")
    return cls(card["model"], card.get("model_options", {}), options, train, features, progress=False)


def load_model(path: str | os.PathLike) -> LoadedModel:
    """Read a bundle written by :func:`save_bundle` (``merkit fit`` / ``merkit train --save-model``).

    No code is executed: the card is JSON, the arrays safetensors.

    Raises:
        DatasetNotFoundError: the folder, its card or its weights are missing.
        ConfigError: a card of another bundle format, or one that names an unknown method or model.
    """
    path = Path(path)
    card_path, weights = path / CARD, path / WEIGHTS
    for needed in (card_path, weights):
        if not needed.is_file():
            raise DatasetNotFoundError(f"model bundle {str(path)!r} has no {needed.name}; expected a folder written "
                                       f"by `merkit fit` or `merkit train --save-model`.")
    try:
        card = json.loads(card_path.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"model bundle {str(card_path)!r} is not valid JSON ({exc}).") from None
    if card.get("bundle_format") != BUNDLE_FORMAT:
        raise ConfigError(f"model bundle {str(path)!r} has format {card.get('bundle_format')!r}; this merkit reads "
                          f"format {BUNDLE_FORMAT}.")
    method = method_from_card(card)
    fitted = method.restore(load_file(str(weights)), {**card.get("fitted", {}), "classes": card["classes"]})
    return LoadedModel(path, card, method, fitted)

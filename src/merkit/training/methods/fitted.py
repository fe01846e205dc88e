"""Fitted models shared by the methods: a torch network (optionally with an SVC on its embeddings), an SVC alone.

Both describe themselves for a model bundle as named arrays plus JSON
(:class:`~merkit.training.methods.base.FittedModel`): the network's
``state_dict`` under ``model.*``, the SVC as the rows it was fitted on
(:meth:`merkit.training.heads.EmbeddingSVC.state`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from merkit.models import create_model
from merkit.training.heads import EmbeddingSVC, extract_embeddings
from merkit.training.loop import predict_scores, softmax

__all__ = ["TorchClassifier", "SVCClassifier", "torch_state_arrays", "build_torch_model", "mean_over_frames"]


def torch_state_arrays(model: nn.Module, prefix: str = "model.") -> dict[str, np.ndarray]:
    """A module's ``state_dict`` as numpy arrays named ``prefix + key``."""
    return {prefix + k: v.detach().cpu().contiguous().numpy() for k, v in model.state_dict().items()}


def build_torch_model(name: str, options: dict, num_classes: int, arrays: dict[str, np.ndarray] | None = None,
                      prefix: str = "model.") -> nn.Module:
    """``create_model(name, num_classes=..., **options)`` with the ``prefix`` arrays loaded strictly, in eval mode."""
    model = create_model(name, num_classes=num_classes, **options)
    if arrays is not None:
        state = {k[len(prefix):]: torch.from_numpy(np.array(v)) for k, v in arrays.items() if k.startswith(prefix)}
        model.load_state_dict(state, strict=True)
    return model.eval()


def mean_over_frames(x: np.ndarray, probabilities: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``probabilities(x)`` of ``(M, C, H, W)`` images; of ``(M, T, C, H, W)``: each sample's mean over its T images.

    Returns:
        ``(M, K)`` class probabilities.
    """
    if x.ndim != 5:
        return probabilities(x)
    scores = probabilities(x.reshape(-1, *x.shape[2:]))
    return scores.reshape(x.shape[0], x.shape[1], -1).mean(axis=1)


class TorchClassifier:
    """A trained registered network; class scores by softmax, or by an SVC on its embeddings.

    Args:
        model: the network (eval mode, CPU).
        classes: class names in output order.
        model_name: its registered name.
        model_options: its constructor options (without ``num_classes``).
        svc: an SVC fitted on the network's embeddings (``head="svc"``), or None.
        scores: ``"softmax"`` (logits) or ``"scores"`` (hinge scores; also turned into probabilities by softmax).
    """

    def __init__(self, model: nn.Module, classes: tuple[str, ...], model_name: str, model_options: dict,
                 svc: EmbeddingSVC | None = None) -> None:
        self.model = model.eval()
        self.classes = tuple(classes)
        self.model_name = model_name
        self.model_options = dict(model_options)
        self.svc = svc

    def predict_proba(self, inputs: Any, network: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
        """``(M, K)`` probabilities of ``(M, C, H, W)`` inputs (``(M, T, C, H, W)``: mean over each sample's T images).

        ``network``: run this instead of the torch network (an exported ONNX graph computing the same
        logits, or the embeddings when there is an SVC head; :class:`merkit.deploy.onnx.OnnxNetwork`).
        """
        x = np.asarray(inputs, dtype=np.float32)
        if not len(x):
            return np.zeros((0, len(self.classes)))

        def images(rows: np.ndarray) -> np.ndarray:
            if self.svc is not None:
                emb = network(rows) if network is not None else extract_embeddings(self.model, rows)
                return self.svc.predict_proba(emb, len(self.classes))
            return softmax(network(rows) if network is not None else predict_scores(self.model, rows))

        return mean_over_frames(x, images)

    def state_arrays(self) -> dict[str, np.ndarray]:
        arrays = torch_state_arrays(self.model)
        if self.svc is not None:
            arrays.update(self.svc.state()[0])
        return arrays

    def state_info(self) -> dict:
        return {"svc": None if self.svc is None else self.svc.state()[1]}

    @classmethod
    def restore(cls, arrays: dict[str, np.ndarray], info: dict, classes: tuple[str, ...], model_name: str,
                model_options: dict) -> TorchClassifier:
        model = build_torch_model(model_name, model_options, len(classes), arrays)
        svc = EmbeddingSVC.from_state(arrays, info["svc"]) if info.get("svc") else None
        return cls(model, classes, model_name, model_options, svc)


class SVCClassifier:
    """An SVC on fixed descriptors (LBP-TOP, Bi-WOOF)."""

    def __init__(self, svc: EmbeddingSVC, classes: tuple[str, ...]) -> None:
        self.svc = svc
        self.classes = tuple(classes)

    def predict_proba(self, inputs: Any) -> np.ndarray:
        x = np.asarray(inputs, dtype=np.float64)
        return self.svc.predict_proba(x.reshape(len(x), -1), len(self.classes))

    def state_arrays(self) -> dict[str, np.ndarray]:
        return self.svc.state()[0]

    def state_info(self) -> dict:
        return {"svc": self.svc.state()[1]}

    @classmethod
    def restore(cls, arrays: dict[str, np.ndarray], info: dict, classes: tuple[str, ...]) -> SVCClassifier:
        return cls(EmbeddingSVC.from_state(arrays, info["svc"]), classes)

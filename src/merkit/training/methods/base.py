"""The method contract: build inputs for a table, fit a fold, predict from inputs, save and restore.

A *method* is how a model is trained and used (supervised cross-entropy,
descriptor + SVM, MOL's multi-task clips, flow pre-training then
fine-tuning, macro-expression transfer). Every method is a subclass of
:class:`Method`, registered by name (:func:`merkit.training.methods.register_method`),
with one contract::

    method = create_method(cfg)                  # from an ExperimentConfig
    inputs = method.prepare(table)               # once per run: inputs keyed by sample key (no training)
    method.pretrain(table, seeds)                # once per run: shared pre-training, if the method has one
    fitted = method.fit(table, task)             # one fold: trains on training subjects only
    proba = fitted.predict_proba(inputs.take(keys))   # (M, K) class probabilities

A :class:`FittedModel` also describes itself for a model bundle:
``state_arrays()`` (named arrays, written as safetensors) and ``state_info()``
(JSON), and ``Method.restore(arrays, info)`` rebuilds it without executing
any stored code.

Honesty is in :func:`merkit.training.loop.fit_rows` and in what a method reads:
``task.val_idx`` for selection, never the labels of ``task.test_idx``.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Sequence
from typing import Any, ClassVar, Protocol

import numpy as np
import pandas as pd

from merkit._io import plain_data
from merkit._options import build
from merkit.errors import ConfigError
from merkit.inputs import Inputs, prepare_inputs

__all__ = ["Inputs", "FittedModel", "Method", "encode_labels", "build_options", "NoOptions"]


class FittedModel(Protocol):
    """A trained model of one method.

    Attributes:
        classes: class names, the column order of :meth:`predict_proba`.
    """

    classes: tuple[str, ...]

    def predict_proba(self, inputs: Any) -> np.ndarray:
        """``(M, K)`` float64 class probabilities of ``inputs`` (rows of the method's :class:`Inputs`)."""

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Named numeric arrays that, with :meth:`state_info`, restore this model."""

    def state_info(self) -> dict:
        """JSON-serialisable description needed by ``Method.restore``."""


@dataclasses.dataclass(frozen=True)
class NoOptions:
    """A method without options of its own."""


def encode_labels(table: pd.DataFrame, idx: np.ndarray, classes: Sequence[str]) -> np.ndarray:
    """Class indices (int64) of ``table.label`` at row positions ``idx``, in ``classes`` order."""
    lookup = {c: i for i, c in enumerate(classes)}
    labels = table["label"].to_numpy()[np.asarray(idx, dtype=np.int64)]
    try:
        return np.array([lookup[c] for c in labels], dtype=np.int64)
    except KeyError as exc:
        raise ConfigError(f"label {exc.args[0]!r} is not one of the protocol classes {list(classes)!r}.") from None


def build_options(cls: type, raw: dict | None, where: str) -> Any:
    """Validate ``raw`` (e.g. the ``[method] options`` table) into the options dataclass ``cls``
    (:func:`merkit._options.build`: unknown keys and wrong types are ConfigErrors naming them)."""
    return build(cls, raw, where)


class Method(abc.ABC):
    """Base of every registered method (module docstring).

    Subclasses set :attr:`options_class` (a frozen dataclass of the ``[method] options``) and
    implement :meth:`input_settings`, :meth:`fit` and :meth:`restore` (and :meth:`pretrain` if they pre-train).

    Args:
        model: registered model name (or a descriptor-baseline name for ``descriptor_svm``).
        model_options: the model's constructor options (``num_classes`` is set from the protocol).
        options: this method's options (an :attr:`options_class` instance).
        train: the ``[train]`` settings.
        features: the ``[features]`` settings.
        progress: show progress bars.
    """

    name: ClassVar[str] = ""
    options_class: ClassVar[type] = NoOptions

    def __init__(self, model: str, model_options: dict, options: Any, train: Any, features: Any,
                 progress: bool = True) -> None:
        self.model = model
        self.model_options = dict(model_options)
        self.options = options
        self.train = train
        self.features = features
        self.progress = progress
        self.inputs: Inputs | None = None
        self.histories: list = []  # (seed, fold, history) of fits run in this process

    # -- the contract ------------------------------------------------------------------------
    @property
    @abc.abstractmethod
    def input_kind(self) -> str:
        """The input kind the method computes (:data:`merkit.models.INPUT_KINDS` or a descriptor)."""

    @abc.abstractmethod
    def input_settings(self) -> Any:
        """The settings of this method's input preparer (:func:`merkit.inputs.prepare_inputs`)."""

    def prepare(self, table: pd.DataFrame) -> Inputs:
        """Compute the inputs of every row of ``table`` (no training); keep them in ``self.inputs`` and return them.

        Runs once per run, and on every new clip a bundle predicts, through the one preparer of
        :attr:`input_kind`.
        """
        self.inputs = prepare_inputs(self.input_kind, table, self.input_settings(), progress=self.progress)
        return self.inputs

    def pretrain(self, table: pd.DataFrame, seeds: Sequence[int] = (0,)) -> None:  # noqa: B027 - a hook with a default: none
        """Training that comes before the folds and is shared by them (none by default).

        It may read no label of ``table``: what it learns is shared by every fold, test subjects
        included (macro-expression pre-training reads its own macro-expression set). A run calls it
        after :meth:`prepare`; a restored bundle never does.
        """

    @abc.abstractmethod
    def fit(self, table: pd.DataFrame, task: Any) -> FittedModel:
        """Train on ``task``'s training subjects (selection on ``task.val_idx`` only)."""

    @abc.abstractmethod
    def restore(self, arrays: dict[str, np.ndarray], info: dict) -> FittedModel:
        """Rebuild a fitted model from :meth:`FittedModel.state_arrays` / ``state_info``."""

    # -- shared ------------------------------------------------------------------------------
    def with_train(self, **changes: Any) -> Method:
        """A copy whose ``[train]`` settings have ``changes`` (grid-search candidates)."""
        clone = type(self)(self.model, self.model_options, self.options,
                           dataclasses.replace(self.train, **changes), self.features, self.progress)
        clone.inputs = self.inputs
        return clone

    def fit_predict(self, table: pd.DataFrame, task: Any) -> np.ndarray:
        """The runner's callable: fit on ``task`` and return the test rows' probabilities."""
        if self.inputs is None:
            raise ConfigError(f"method {self.name!r}: call prepare(table) before fitting.")
        fitted = self.fit(table, task)
        return fitted.predict_proba(self.inputs.take(table["sample_key"].to_numpy()[task.test_idx]))

    __call__ = fit_predict

    def card(self) -> dict:
        """What a model bundle records about this method (JSON)."""
        return {
            "method": self.name,
            "model": self.model,
            "model_options": self.model_options,
            "method_options": plain_data(dataclasses.asdict(self.options)),
            "input_kind": self.input_kind,
        }


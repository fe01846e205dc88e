"""Per-sample inputs keyed by sample key: what every input preparer returns and every method reads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd

from merkit.errors import ConfigError, ShapeError

__all__ = ["Inputs", "FeatureSet", "FeatureProvider"]


class Inputs(Protocol):
    """Per-sample inputs of a method, keyed by sample key (e.g. :class:`FeatureSet`)."""

    def take(self, sample_keys: Sequence[str]) -> Any: ...


class FeatureSet:
    """Arrays keyed by sample key.

    Args:
        keys: ``(N,)`` sample keys, unique.
        values: ``(N, ...)`` array; ``values[i]`` belongs to ``keys[i]``.
        kind: the feature kind (for messages).
    """

    def __init__(self, keys: Sequence[str], values: np.ndarray, kind: str = "") -> None:
        keys = np.asarray(keys, dtype=object)
        if len(keys) != len(values):
            raise ShapeError(f"FeatureSet {kind!r}: {len(keys)} keys but {len(values)} rows; they must match.")
        self.keys = keys
        self.values = values
        self.kind = kind
        self._index = {k: i for i, k in enumerate(keys.tolist())}
        if len(self._index) != len(keys):
            raise ShapeError(f"FeatureSet {kind!r}: sample keys are not unique.")

    def __len__(self) -> int:
        return len(self.keys)

    def take(self, sample_keys: Sequence[str]) -> np.ndarray:
        """Rows for ``sample_keys`` in that order.

        Raises:
            ConfigError: naming the first sample key that has no features.
        """
        try:
            rows = [self._index[k] for k in sample_keys]
        except KeyError as exc:
            raise ConfigError(
                f"no {self.kind or 'feature'} values for sample {exc.args[0]!r}; "
                f"the features were computed for another table."
            ) from None
        return self.values[rows]


class FeatureProvider(Protocol):
    """Anything that turns table rows into a :class:`FeatureSet` of one kind."""

    def __call__(self, table: pd.DataFrame, kind: str) -> FeatureSet: ...

"""A learnable feature column and a trivial fit-predict callable for the evaluation runner."""

from __future__ import annotations

import numpy as np
import pandas as pd

CENTRES = {"negative": 0.0, "positive": 1.0, "surprise": 2.0}


def with_feature(table: pd.DataFrame) -> pd.DataFrame:
    """Attach a noisy 1-d feature that depends on the sample's 3-class label."""
    from merkit.evaluation import create_protocol

    prepared = create_protocol("megc2019_composite").prepare(table)
    rng = np.random.default_rng(1)
    out = table.copy()
    feature = {k: CENTRES[label] + rng.normal(0, 0.6) for k, label in zip(prepared["sample_key"], prepared["label"])}
    out["feature"] = out["sample_key"].map(feature).fillna(0.0)
    return out


class NearestCentroid:
    """Trivial classifier: class means of the feature on fit rows, softmax over -distance + seeded noise."""

    def __init__(self):
        self.seen_test_labels = False
        self.calls = 0

    def __call__(self, table, task):
        self.calls += 1
        fit = table.iloc[task.fit_idx]
        assert not set(task.val_idx) & set(task.test_idx) or task.select_on_test
        centres = np.array([fit.loc[fit["label"] == c, "feature"].mean() if (fit["label"] == c).any() else 99.0
                            for c in task.classes])
        x = table["feature"].to_numpy()[task.test_idx][:, None]
        logits = -np.abs(x - centres[None, :]) + np.random.normal(0, 0.3, (len(x), len(centres)))
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

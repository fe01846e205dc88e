"""Small generated sample tables and inputs whose class can be learnt."""

from __future__ import annotations

import numpy as np
import pandas as pd

CLASSES = ("negative", "positive", "surprise")
SOURCES = {"casme2": ("sub{:02d}", "happiness", "disgust", "surprise"),
           "samm": ("{:03d}", "Happiness", "Anger", "Surprise"),
           "smic_hs": ("s{}", "positive", "negative", "surprise")}


def make_table(n_subjects: int = 4, clips_per_subject: int = 5, seed: int = 0) -> pd.DataFrame:
    """A small generated sample table over three sources (emotions drawn per clip, ``others`` included)."""
    from merkit.data import Sample, samples_to_table

    rng = np.random.default_rng(seed)
    samples = []
    for dataset, (fmt, pos, neg, sur) in SOURCES.items():
        for s in range(1, n_subjects + 1):
            subject = fmt.format(s)
            for c in range(clips_per_subject):
                emotion = rng.choice([neg, neg, pos, sur, "others"])
                samples.append(Sample(dataset, subject, f"{subject}_c{c}", [f"/x/{c}/{i}.jpg" for i in range(3)],
                                      [10, 11, 12], 10, 11, 12, 200.0, emotion=str(emotion)))
    return samples_to_table(samples)


def labelled_table(n_subjects: int = 4, clips: int = 5, seed: int = 0) -> pd.DataFrame:
    """:func:`make_table` with the ``megc3`` labels (``negative``/``positive``/``surprise``; others dropped)."""
    from merkit.data.labels import get_label_set

    return get_label_set("megc3").apply(make_table(n_subjects, clips, seed))


def learnable_features(table: pd.DataFrame, seed: int = 0, signal: float = 1.0) -> np.ndarray:
    """(N, 3, 28, 28) flow-like inputs in [0, 1] whose class shows as a bright quadrant, plus noise."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 0.6, size=(len(table), 3, 28, 28)).astype(np.float32)
    for i, label in enumerate(table["label"]):
        if label in CLASSES:
            k = CLASSES.index(label)
            x[i, :, 14 * (k // 2) : 14 * (k // 2) + 14, 14 * (k % 2) : 14 * (k % 2) + 14] += 0.4 * signal
    return np.clip(x, 0, 1)


def write_feature_file(path, n_subjects: int = 4, clips: int = 6, seed: int = 0) -> pd.DataFrame:
    """An ``npz`` features file (``[data] source = "npz"``) of :func:`learnable_features`; returns its table."""
    table = labelled_table(n_subjects, clips, seed)
    x = learnable_features(table, seed)
    np.savez(
        path,
        sample_key=table["sample_key"].to_numpy(str), subject_key=table["subject_key"].to_numpy(str),
        dataset=table["dataset"].to_numpy(str), label=table["label"].to_numpy(str),
        flow_uv_strain=x, biwoof=x.mean(axis=(2,)).reshape(len(x), -1),
    )
    return table

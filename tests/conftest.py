import numpy as np
import pandas as pd
import pytest

from merkit.data import Sample, samples_to_table

SOURCES = {"casme2": ("sub{:02d}", "happiness", "disgust", "surprise"),
           "samm": ("{:03d}", "Happiness", "Anger", "Surprise"),
           "smic_hs": ("s{}", "positive", "negative", "surprise")}


def make_table(n_subjects: int = 4, clips_per_subject: int = 5, seed: int = 0) -> pd.DataFrame:
    """A small generated sample table over three sources with a learnable 1-d feature."""
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


@pytest.fixture
def table() -> pd.DataFrame:
    return make_table()

"""Fixtures shared by every test folder (plain helpers live in tests/_helpers/)."""

import numpy as np
import pandas as pd
import pytest

from tests._helpers.tables import make_table, write_feature_file


@pytest.fixture
def table() -> pd.DataFrame:
    """:func:`tests._helpers.tables.make_table` with its defaults."""
    return make_table()


@pytest.fixture
def feature_file(tmp_path):
    """An ``npz`` features file of learnable ``flow_uv_strain`` and ``biwoof`` inputs (4 subjects per source)."""
    path = tmp_path / "features.npz"
    write_feature_file(path)
    return path


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """skimage's astronaut portrait (Eileen Collins, public domain), 512x512 RGB: a real face for dlib."""
    from skimage import data

    return data.astronaut()

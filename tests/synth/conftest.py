"""Shared SynthME fixtures: one tiny dataset per test session (generation takes about a second)."""

import pytest

from merkit.synth import generate


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """A tiny SynthME tree, seed 0; tests only read it."""
    out = tmp_path_factory.mktemp("synth") / "tiny"
    return generate(out, "tiny", seed=0)

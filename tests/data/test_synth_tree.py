"""The loaders read a SynthME `tiny` tree without a single problem.

The tree is written in the layouts of docs/datasets.md, "Dataset layouts".
"""

import pytest

synth = pytest.importorskip("merkit.synth.generate")

from merkit.data.composite import MEGC2019Composite  # noqa: E402


def test_tiny_synth_tree_loads_as_megc_composite(tmp_path):
    out = tmp_path / "synth"
    synth.generate(out, preset="tiny", seed=0)
    loader = MEGC2019Composite(out, gt_csv=out / "combined_3class_gt.csv", casme2_variant="raw", smic_variant="raw")
    table = loader.load()
    gt_lines = [line for line in (out / "combined_3class_gt.csv").read_text().splitlines() if line.strip(", ")]
    assert len(table) == len(gt_lines) > 0
    assert loader.report.problems == []
    assert set(table["dataset"]) == {"casme2", "samm", "smic_hs"}
    assert table["label"].isin(["negative", "positive", "surprise"]).all()

"""The masked face and flow input of flow_pretrain_finetune: flips, flow images, face encoding, prepare and cache."""

import numpy as np
import pytest

from merkit.errors import ConfigError, UnknownNameError
from merkit.experiments.config import config_from_dict
from merkit.inputs.masked_face_flow import encode_face, encode_flow, flip_raw
from merkit.training.methods import create_method

SIZE = 32


def test_flip_raw_mirrors_and_negates_u():
    faces = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    flows = np.random.default_rng(0).normal(size=(2, 3, 4, 2)).astype(np.float32)
    f_faces, f_flows = flip_raw(faces, flows)
    assert np.array_equal(f_faces, faces[:, :, ::-1])
    assert np.allclose(f_flows[..., 0], -flows[:, :, ::-1, 0]) and np.allclose(f_flows[..., 1], flows[:, :, ::-1, 1])


def test_flow_images_are_three_channels_in_unit_range():
    flows = np.zeros((2, 8, 8, 2), np.float32)
    flows[0, 2:4, 2:4, 0] = 1.5
    for kind in ("hsv", "uv_mag"):
        img = encode_flow(flows, kind)
        assert img.shape == (2, 3, 8, 8) and img.min() >= 0 and img.max() <= 1
    hsv = encode_flow(flows, "hsv")
    assert hsv[1].max() == 0 and hsv[0, :, 2, 2].max() == 1  # zero flow is black; the peak is bright
    with pytest.raises(UnknownNameError, match="flow_image"):
        encode_flow(flows, "rgb")


def test_prepare_masks_faces_and_flows_caches_them_and_take_encodes_faces(tmp_path, monkeypatch):
    from merkit.experiments.config import DataConfig
    from merkit.experiments.sources import load_table
    from merkit.inputs import masked_face_flow as masked_face_flow_inputs

    table, _ = load_table(DataConfig(source="synth", synth_root=str(tmp_path / "tiny"), synth_preset="tiny"))
    table = table.iloc[:2].reset_index(drop=True)
    method = create_method(config_from_dict({
        "model": {"name": "shufflenet_v2_me"}, "method": {"options": {"size": SIZE}},
        "features": {"flow": "farneback", "cache_dir": str(tmp_path / "cache")}}), progress=False)
    inputs = method.prepare(table)
    assert inputs.faces.shape == (2, SIZE, SIZE) and inputs.faces.dtype == np.uint8
    assert inputs.flows.shape == (2, SIZE, SIZE, 2) and inputs.flows.dtype == np.float32
    masked = inputs.faces == 0  # mask "mer": the eyes and everything outside the face hull
    assert 0.05 < masked.mean() < 0.95 and np.all(inputs.flows[masked] == 0)
    keys = table["sample_key"].to_numpy()[::-1]
    x = inputs.take(keys)
    assert x.shape == (2, 1, SIZE, SIZE) and x.dtype == np.float32
    np.testing.assert_array_equal(x[:, 0], inputs.faces[::-1] / np.float32(255))
    monkeypatch.setattr(masked_face_flow_inputs, "_compute", lambda *a: pytest.fail("not read from the cache"))
    again = method.prepare(table)
    np.testing.assert_array_equal(again.faces, inputs.faces)
    np.testing.assert_array_equal(again.flows, inputs.flows)
    with pytest.raises(ConfigError, match="no masked face/flow inputs for sample 'nope'"):
        inputs.take(["nope"])


def test_encode_face_scale():
    assert encode_face(np.full((1, 2, 2), 255, np.uint8)).tolist() == [[[[1.0, 1.0], [1.0, 1.0]]]]


def test_flip_raw_mirrors_every_face_of_a_sequence():
    faces = np.arange(2 * 3 * 4 * 5, dtype=np.uint8).reshape(2, 3, 4, 5)
    f_faces, _ = flip_raw(faces, np.zeros((2, 4, 5, 2), np.float32))
    assert np.array_equal(f_faces, faces[..., ::-1])
    assert encode_face(faces).shape == (2, 3, 1, 4, 5)


def test_prepare_with_face_frames_keeps_the_apex_face_and_flow_of_the_apex_reading(tmp_path):
    from merkit.experiments.config import DataConfig
    from merkit.experiments.sources import load_table

    table, _ = load_table(DataConfig(source="synth", synth_root=str(tmp_path / "tiny"), synth_preset="tiny"))
    table = table.iloc[:2].reset_index(drop=True)
    prepared = {}
    for frames in (1, 3):
        method = create_method(config_from_dict({
            "model": {"name": "shufflenet_v2_me"}, "method": {"options": {"size": SIZE, "face_frames": frames}},
            "features": {"flow": "farneback", "cache_dir": str(tmp_path / "cache")}}), progress=False)
        prepared[frames] = method.prepare(table)
    apex, sequence = prepared[1], prepared[3]
    assert sequence.faces.shape == (2, 3, SIZE, SIZE)
    np.testing.assert_array_equal(sequence.faces[:, -1], apex.faces)  # one onset transform for every frame
    np.testing.assert_array_equal(sequence.flows, apex.flows)
    assert not np.array_equal(sequence.faces[:, 0], sequence.faces[:, -1])
    assert sequence.take(table["sample_key"]).shape == (2, 3, 1, SIZE, SIZE)

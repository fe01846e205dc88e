"""Synthetic faces: distinct identities, and dlib's HOG detector finds them where the preset says so."""

import glob

import cv2
import numpy as np
import pytest

from merkit.synth import generate, get_preset
from merkit.synth.identity import sample_identity
from merkit.synth.render import render_face

SOURCES = ("casme2", "samm", "smic_hs")


def test_identities_are_distinct():
    rng = np.random.default_rng(0)
    ids = [sample_identity(rng) for _ in range(12)]
    shapes = np.stack([i.shape for i in ids])
    spread = np.abs(shapes - shapes.mean(0)).mean()
    assert spread > 0.02  # IOD units
    faces = [render_face(i, 30.0).image for i in ids[:4]]
    for a in range(4):
        for b in range(a + 1, 4):
            assert np.abs(faces[a] - faces[b]).mean() > 0.02
    assert len({round(i.skin_rgb[0], 2) for i in ids}) > 6


def test_render_landmarks_sit_on_drawn_features():
    ident = sample_identity(np.random.default_rng(3))
    face = render_face(ident, 40.0)
    grey = face.image.mean(2)
    pupils = [face.landmarks[36:42].mean(0), face.landmarks[42:48].mean(0)]
    for x, y in pupils:  # the iris is dark, the cheek below it is not
        assert grey[int(round(y)), int(round(x))] < grey[int(round(y + 0.5 * 40)), int(round(x))] - 0.15


def _key_frames(m):
    for r in m.clips:
        pattern = {
            "casme2": f"CASME2/CASME2_RAW_selected/{r['subject']}/{r['clip']}/img{r['apex']}.jpg",
            "samm": f"SAMM/SAMM/{r['subject']}/{r['clip']}/{r['subject']}_{r['apex']:05d}.jpg",
            "smic_hs": f"SMIC/SMIC_all_raw/HS/{r['subject']}/micro/*/{r['clip']}/image{r['apex']:06d}.bmp",
        }[r["dataset"]]
        (path,) = glob.glob(str(m.out_dir / pattern))
        yield r["dataset"], cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["small", "full"])
def test_dlib_finds_the_faces(preset, tmp_path):
    dlib = pytest.importorskip("dlib")
    cfg = get_preset(preset)
    assert cfg.dlib_detectable
    # Same cameras and face sizes as the preset, fewer and shorter clips.
    fewer = {f"{s}.{k}": v for s in SOURCES for k, v in
             (("n_subjects", 3), ("class_counts", (1, 1, 1)), ("n_other", 0), ("duration_s", (0.03, 0.03)),
              ("baseline_frames", (0, 0)))}
    m = generate(tmp_path / preset, cfg, seed=11, **fewer)
    detector = dlib.get_frontal_face_detector()
    found: dict[str, list[bool]] = {}
    for source, frame in _key_frames(m):
        found.setdefault(source, []).append(len(detector(frame, 0)) == 1)
    for source, hits in found.items():
        assert np.mean(hits) >= 8 / 9, (source, hits)


def test_tiny_declares_ground_truth_landmarks():
    assert get_preset("tiny").dlib_detectable is False

"""descriptor_svm (Bi-WOOF / LBP-TOP + SVM) learns what its descriptor can see, end to end through the engine.

Bi-WOOF + SVM scored at chance on SynthME ``small`` (BENCHMARKS.md, issue 7): sub-pixel
action-unit motion under a head that moves by pixels between onset and apex. These tests
build that situation from known flows and clips, so a broken descriptor, SVM pipeline or
global-motion step shows as a score far from what the data allows.
"""

import numpy as np

from merkit.experiments.config import config_from_dict
from merkit.experiments.run import run_experiment
from merkit.inputs.flow_maps import flow_kind_from_prepared
from merkit.motion.descriptors import lbp_top
from merkit.motion.strain import optical_strain

CLASSES = ("negative", "positive", "surprise")
S = 64  # face crop side, pixels
YY, XX = np.mgrid[0:S, 0:S].astype(np.float64)


def _design(n_subjects=6, per_class=3, seed=0):
    rng = np.random.default_rng(seed)
    rows = [(f"sub{s:02d}", c, k) for s in range(1, n_subjects + 1) for c in CLASSES for k in range(per_class)]
    return rows, rng


def _write(path, rows, kind, values):
    np.savez(path, sample_key=np.array([f"casme2/{s}/{c}{k}" for s, c, k in rows]),
             subject_key=np.array([f"casme2/{s}" for s, _, _ in rows]), dataset=np.array(["casme2"] * len(rows)),
             label=np.array([c for _, c, _ in rows]), **{kind: np.stack(values).astype(np.float32)})
    return path


def _uf1(tmp_path, path, model, name):
    raw = {"data": {"source": "npz", "features_file": str(path)}, "model": {"name": model},
           "run": {"out_dir": str(tmp_path / name), "seeds": [0], "bootstrap": 0}, "train": {"progress": False}}
    return run_experiment(config_from_dict(raw)).metrics["summary"]["full"]["uf1"]["mean"]


def _prepared_flow(label, rng, noise=0.05):
    """(S, S, 3) raw (u, v, strain) like motion.prepare: a 0.4 px brow blob whose direction is
    the class, under a random head shift (up to 3 px), roll (1 degree) and zoom (1 %)."""
    # directions at Bi-WOOF bin centres (22.5 + 45 k degrees): no pixel sits on a bin edge
    angle = np.deg2rad({"negative": 112.5, "positive": 22.5, "surprise": -67.5}[label])
    direction = (np.cos(angle), np.sin(angle))
    g = np.exp(-((XX - 22) ** 2 + (YY - 20) ** 2) / (2 * 4.0**2))
    local = g[..., None] * 0.4 * np.asarray(direction)
    a, z = np.deg2rad(rng.uniform(-1, 1)), 1 + rng.uniform(-0.01, 0.01)
    x, y = XX - S / 2, YY - S / 2
    head = np.stack([z * (np.cos(a) * x - np.sin(a) * y) - x, z * (np.sin(a) * x + np.cos(a) * y) - y], -1)
    head += rng.uniform(-3, 3, size=2)
    flow = (local + head + rng.normal(0, noise, (S, S, 2))).astype(np.float32)
    return np.dstack([flow, optical_strain(flow)])


def test_biwoof_svm_recovers_local_motion_once_head_motion_is_removed(tmp_path):
    rows, rng = _design()
    prepared = [_prepared_flow(c, rng) for _, c, _ in rows]
    scores = {}
    for mode in ("none", "affine"):
        feats = [flow_kind_from_prepared(p, "biwoof", 28, global_motion=mode) for p in prepared]
        scores[mode] = _uf1(tmp_path, _write(tmp_path / f"{mode}.npz", rows, "biwoof", feats), "biwoof_svm", mode)
    assert scores["affine"] > 0.9  # the class is the blob's direction, and nothing else varies with it
    assert scores["affine"] - scores["none"] > 0.25  # the head's motion hides it from orientation histograms


def test_flow_kinds_are_invariant_to_removed_head_motion():
    rng = np.random.default_rng(3)
    a, b = (_prepared_flow("positive", rng, noise=0.0) for _ in range(2))  # same blob, different heads
    for kind in ("biwoof", "flow_uv_strain", "flow_uv"):
        fa = flow_kind_from_prepared(a, kind, 28, global_motion="affine")
        fb = flow_kind_from_prepared(b, kind, 28, global_motion="affine")
        np.testing.assert_allclose(fa, fb, atol=2e-3)  # a similarity lies in the affine span: removed exactly
        raw_a, raw_b = (flow_kind_from_prepared(p, kind, 28) for p in (a, b))
        assert np.abs(raw_a - raw_b).max() > 0.05


def _texture_clip(label, texture, rng, frames=10):
    """A textured face whose central patch drifts 0.6 px/frame in the class's direction."""
    import cv2

    step = {"negative": (0.0, 0.6), "positive": (0.6, 0.0), "surprise": (0.0, -0.6)}[label]
    out = []
    for t in range(frames):
        m = np.float32([[1, 0, -step[0] * t], [0, 1, -step[1] * t]])
        moved = cv2.warpAffine(texture, m, (S, S), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        frame = texture.copy()
        frame[16:48, 16:48] = moved[16:48, 16:48]
        out.append(frame + rng.normal(0, 1.0, frame.shape))
    return np.clip(np.stack(out), 0, 255)


def test_lbptop_svm_separates_motion_directions(tmp_path):
    import cv2

    rows, rng = _design(n_subjects=4, per_class=2)
    textures = {}
    for s, _, _ in rows:
        if s not in textures:  # one face texture per subject: identity must not decide the class
            noise = rng.uniform(0, 255, (S, S)).astype(np.float32)
            textures[s] = cv2.GaussianBlur(noise, (0, 0), 1.5) * 3 - 255
    feats = [lbp_top(_texture_clip(c, textures[s], rng), length=None, grid=(2, 2), overlap=0.0) for s, c, _ in rows]
    assert _uf1(tmp_path, _write(tmp_path / "lbp.npz", rows, "lbptop", feats), "lbptop_svm", "lbp") > 0.8

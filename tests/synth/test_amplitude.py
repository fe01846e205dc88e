"""The SynthME amplitude ladder: amplitude_scale, appearance_contrast, and defaults that change no byte."""

import dataclasses
import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from merkit.errors import ConfigError
from merkit.synth import generate
from merkit.synth._landmarks import MEAN_SHAPE_68
from merkit.synth._plan import plan_dataset
from merkit.synth.actions import MAX_JACOBIAN, amplify, au_blobs, max_jacobian, normalise_peak
from merkit.synth.appearance import AU_CREASES, crease_pattern
from merkit.synth.config import SynthConfig, get_preset
from merkit.synth.truth import SynthTruth

PINNED = Path(__file__).parent / "data" / "tiny_seed0_sha256.json"


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _clips(root: Path) -> dict[str, dict]:
    return {f"{p.parent.parent.parent.name}/{p.parent.parent.name}/{p.parent.name}": json.loads(p.read_text())
            for p in sorted((root / "_groundtruth").rglob("clip.json"))}


@pytest.fixture(scope="module")
def doubled(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("amp") / "x2", "tiny", seed=0, amplitude_scale=2.0)


@pytest.fixture(scope="module")
def creased(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("app") / "c20", "tiny", seed=0, appearance_contrast=0.2)


def test_defaults_are_byte_identical_to_the_recorded_generator(tiny):
    # Hashes of every file of the tiny seed-0 tree, recorded before the two knobs existed.
    pinned = json.loads(PINNED.read_text())
    if (np.__version__, cv2.__version__) != (pinned["numpy"], pinned["opencv"]):
        pytest.skip(f"hashes recorded with numpy {pinned['numpy']} / OpenCV {pinned['opencv']}; JPEG and float "
                    f"bytes may differ with numpy {np.__version__} / OpenCV {cv2.__version__}")
    got = _hashes(tiny.out_dir)
    changed = sorted(k for k in set(got) | set(pinned["files"]) if got.get(k) != pinned["files"].get(k))
    assert not changed, f"{len(changed)} files differ from the recorded default tree, e.g. {changed[:5]}"


def test_knobs_draw_nothing_from_the_plan():
    base = get_preset("tiny")
    plain = [c for s in plan_dataset(base, 3) for c in s.clips]
    knobs = [c for s in plan_dataset(base.replace(amplitude_scale=3.0, appearance_contrast=0.1), 3) for c in s.clips]
    assert [dataclasses.replace(c, amplitude_scale=1.0, appearance=()) for c in knobs] == plain
    assert all(c.amplitude_scale == 3.0 and len(c.appearance) == len(c.au_weights) for c in knobs)
    assert all(c.amplitude_scale == 1.0 and c.appearance == () for c in plain)


def test_amplitude_scale_doubles_the_class_aus_only(tiny, doubled):
    one, two = _clips(tiny.out_dir), _clips(doubled.out_dir)
    assert one.keys() == two.keys()
    for key in one:
        a, b = one[key], two[key]
        assert b["amplitude_scale"] == 2.0 and "amplitude_scale" not in a
        assert b["au_peak_unscaled_px"] == a["au_peak_used_px"]
        # Exactly 2x unless the 22 px tiny face cannot carry it even with MAX_WIDENING (then capped).
        assert 1.5 * a["au_peak_used_px"] < b["au_peak_used_px"] <= 2 * a["au_peak_used_px"] * (1 + 1e-9)
        # Nuisance motion is untouched.
        for field in ("blink_blobs", "habit_blobs", "head_shift_px", "head_angle_deg", "gain", "planned_peak_px"):
            assert a[field] == b[field], (key, field)
    ratios = [two[k]["au_peak_used_px"] / one[k]["au_peak_used_px"] for k in one]
    assert np.median(ratios) == pytest.approx(2.0, abs=1e-6)
    # The stored dense-field peak follows (the widened blobs keep the centre peak, not the field max).
    dense = [two[k]["au_peak_px"] / one[k]["au_peak_px"] for k in one]
    assert 1.5 < min(dense) and max(dense) < 2.3 and np.median(dense) == pytest.approx(2.0, abs=0.1)


def test_replay_follows_the_scaled_motion(tiny, doubled):
    one, two = SynthTruth(tiny.out_dir), SynthTruth(doubled.out_dir)
    assert two.config.amplitude_scale == 2.0 and two.config.warp_iterations == 16
    records = _clips(doubled.out_dir)
    for key in two.keys()[:4]:
        m1, m2 = one.motion(*key.split("/")), two.motion(*key.split("/"))
        peak = float(np.linalg.norm(m2.fields[0], axis=2).max())
        assert peak == pytest.approx(records[key]["au_peak_px"], abs=1e-3)
        for f1, f2 in zip(m1.fields[1:], m2.fields[1:]):  # blink and habit fields
            np.testing.assert_array_equal(f1, f2)
        stored = np.load(doubled.out_dir / "_groundtruth" / key / "flow_onset_apex.npy")
        np.testing.assert_allclose(m2.onset_field(m2.apex_index), stored, atol=1e-5)


def test_amplify_widens_instead_of_folding():
    for iod, reachable in ((64.0, True), (22.0, False)):
        lm = MEAN_SHAPE_68 * iod + 3 * iod
        blobs, peak = normalise_peak(au_blobs("12", lm, iod), 2.5)
        big, big_peak = amplify(blobs, 8.0)
        assert max_jacobian(big) <= MAX_JACOBIAN * 1.001
        assert big[0].sigma > blobs[0].sigma  # widened rather than folded
        if reachable:
            assert big_peak == pytest.approx(8 * peak, rel=1e-9)
        else:  # a 22 px face cannot carry 8x without widening AU12 beyond MAX_WIDENING
            assert 2 * peak < big_peak < 8 * peak
    small, small_peak = amplify(blobs, 0.25)
    assert small_peak == pytest.approx(0.25 * peak) and small[0].sigma == blobs[0].sigma


def test_appearance_changes_apex_frames_not_onsets_or_flow(tiny, creased):
    one, two = _hashes(tiny.out_dir), _hashes(creased.out_dir)
    clips = _clips(tiny.out_dir)
    darker = 0
    for key in clips:
        gt = f"_groundtruth/{key}/"
        for name in ("flow_onset_apex.npy", "landmarks.npy", "onset_clean.png"):
            assert one[gt + name] == two[gt + name], (key, name)
        a = cv2.imread(str(tiny.out_dir / gt / "apex_clean.png"), cv2.IMREAD_UNCHANGED).astype(int)
        b = cv2.imread(str(creased.out_dir / gt / "apex_clean.png"), cv2.IMREAD_UNCHANGED).astype(int)
        diff = b - a
        assert np.abs(diff).max() >= 3, key
        assert (np.abs(diff) > 0).mean() < 0.15, key  # local to the AU regions
        darker += int(diff.sum() < 0)
    assert darker >= len(clips) - 2  # every AU darkens except AU5's lighter lid band
    # Frames up to the onset are untouched on disk.
    for row in tiny.clips:
        for rel, digest in one.items():
            if f"/{row['clip']}/" in rel and rel.split("/")[0] in ("CASME2", "SAMM", "SMIC"):
                number = int("".join(ch for ch in rel.rsplit("/", 1)[1].split("_")[-1] if ch.isdigit()))
                if number <= row["onset"]:
                    assert two[rel] == digest, rel


def test_appearance_moves_with_the_face_and_follows_the_crease(creased):
    truth = SynthTruth(creased.out_dir)
    m = truth.motion(*truth.keys()[0].split("/"))
    assert m.appearance is not None and m.appearance.min() < 0
    assert m.appearance.min() >= -0.2 * 1.25 * 1.0 - 1e-6  # contrast x weight x capped expressiveness
    np.testing.assert_array_equal(m.clean_frame(m.onset_index), m.reference)
    # The creases are drawn on the onset grid and warped with the skin: the apex frame is the warp
    # of the creased onset image by the apex field.
    from merkit.synth.clip import appearance_source, warp_by_flow

    creased_onset = appearance_source(m.reference, m.appearance, float(m.profiles[0][m.apex_index]))
    np.testing.assert_array_equal(m.clean_frame(m.apex_index),
                                  warp_by_flow(creased_onset, m.onset_field(m.apex_index), m.iterations))
    apex = cv2.imread(str(creased.out_dir / "_groundtruth" / m.key / "apex_clean.png"), cv2.IMREAD_UNCHANGED)
    apex = apex if apex.ndim == 2 else cv2.cvtColor(apex, cv2.COLOR_BGR2RGB)
    assert np.abs(np.clip(np.rint(m.clean_frame(m.apex_index)), 0, 255) - apex).max() <= 1


def test_crease_patterns_peak_at_one_and_share_a_sign():
    iod = 48.0
    lm = MEAN_SHAPE_68 * iod + 3 * iod
    for code, creases in AU_CREASES.items():
        if not creases:
            continue
        assert len({sign for _p, _w, sign, _m in creases}) == 1, code
        pattern = crease_pattern(code, "", lm, iod, (int(6 * iod), int(6 * iod)))
        assert 0.9 < pattern.max() <= 1.0, code
    left = crease_pattern("12", "R", lm, iod, (288, 288))
    both = crease_pattern("12", "", lm, iod, (288, 288))
    assert 0 < left.sum() < both.sum()


@pytest.mark.parametrize("overrides, message", [
    ({"amplitude_scale": 0}, "amplitude_scale must be a finite number > 0"),
    ({"amplitude_scale": -2.0}, "amplitude_scale must be a finite number > 0"),
    ({"amplitude_scale": float("nan")}, "amplitude_scale must be a finite number > 0"),
    ({"amplitude_scale": float("inf")}, "amplitude_scale must be a finite number > 0"),
    ({"amplitude_scale": "two"}, "'amplitude_scale' must be of type float; got str 'two'"),
    ({"amplitude_scale": True}, "'amplitude_scale' must be of type float; got bool"),
    ({"appearance_contrast": -0.01}, r"appearance_contrast must be a relative luminance change in \[0, 1\]"),
    ({"appearance_contrast": 1.5}, r"appearance_contrast must be a relative luminance change in \[0, 1\]"),
    ({"amplitude_scal": 2.0}, "Did you mean 'amplitude_scale'"),
    ({"appearence_contrast": 0.1}, "Did you mean 'appearance_contrast'"),
])
def test_validation(overrides, message):
    with pytest.raises(ConfigError, match=message):
        get_preset("tiny").replace(**overrides)


def test_numeric_strings_are_read_as_everywhere_else():
    # YAML 1.1 reads 2e0 / 1e-3 (no dot) as strings; every option table reads them as numbers (merkit._options)
    cfg = get_preset("tiny").replace(amplitude_scale="2e0", **{"samm.camera.noise_sigma": "1e-3"})
    assert cfg.amplitude_scale == 2.0 and cfg.sources["samm"].camera.noise_sigma == 0.001


def test_manifest_records_the_knobs_only_when_set(tiny, doubled):
    plain = json.loads((tiny.out_dir / "manifest.json").read_text())["parameters"]
    assert "amplitude_scale" not in plain and "appearance_contrast" not in plain
    assert json.loads((doubled.out_dir / "manifest.json").read_text())["parameters"]["amplitude_scale"] == 2.0
    cfg = get_preset("small").replace(amplitude_scale=0.25, appearance_contrast=0.05, **{"samm.camera.noise_sigma": 0})
    again = SynthConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg
    assert get_preset("tiny").warp_iterations == 8 and cfg.warp_iterations == 8
    assert get_preset("tiny").replace(amplitude_scale=8).warp_iterations == 32

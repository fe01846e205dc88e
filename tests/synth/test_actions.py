import re

import numpy as np
import pytest

from merkit.errors import UnknownNameError
from merkit.synth._landmarks import MEAN_SHAPE_68, MIRROR_68
from merkit.synth.actions import (
    AU_BLOBS,
    MAX_JACOBIAN,
    au_blobs,
    dense_field,
    evaluate_blobs,
    normalise_peak,
    parse_aus,
)

IOD = 50.0
LM = MEAN_SHAPE_68 * IOD + [120.0, 80.0]  # a face with IOD 50 px, eye midpoint at (120, 80)


def _move(combo, idx):
    """Displacement of landmarks ``idx`` under ``combo`` (unit amplitude)."""
    return evaluate_blobs(au_blobs(combo, LM, IOD), LM[list(idx)])


def test_mean_shape_is_symmetric():
    mirrored = MEAN_SHAPE_68[list(MIRROR_68)] * [-1, 1]
    np.testing.assert_allclose(mirrored, MEAN_SHAPE_68, atol=1e-12)


def test_anatomy_brows():
    inner = _move("1", [21, 22])
    assert (inner[:, 1] < -0.5).all()  # AU1 raises the inner brows
    lower = _move("4", [21, 22])
    assert (lower[:, 1] > 0.5).all()  # AU4 lowers them ...
    assert lower[0, 0] > 0 > lower[1, 0]  # ... and draws them together
    outer = _move("2", [17, 26])
    assert (outer[:, 1] < -0.5).all()
    assert np.abs(_move("2", [48, 54, 8])).max() < 1e-3  # no mouth or chin motion from a brow AU


def test_anatomy_mouth():
    smile = _move("12", [48, 54])
    assert smile[0, 0] < 0 < smile[1, 0]  # corners move outwards ...
    assert (smile[:, 1] < 0).all()  # ... and up
    down = _move("15", [48, 54])
    assert (down[:, 1] > 0.5).all()
    jaw = _move("26", [8, 57])
    assert (jaw[:, 1] > 0.5).all()
    assert np.abs(_move("26", [19, 24])).max() < 1e-3


def test_unilateral_au_moves_one_side():
    # R = the subject's right = image left (points 48, 36-41).
    right = _move("R14", [48, 54])
    assert np.linalg.norm(right[0]) > 0.5 and np.linalg.norm(right[1]) < 1e-3
    left = _move("L14", [48, 54])
    assert np.linalg.norm(left[1]) > 0.5 and np.linalg.norm(left[0]) < 1e-3


def test_bilateral_fields_are_mirror_symmetric():
    centre_x = LM[27:31, 0].mean()
    for code in AU_BLOBS:
        field = dense_field(au_blobs(code, LM, IOD), (200, 241))
        x0 = int(round(centre_x))
        left = field[:, x0 - 60 : x0]
        right = field[:, x0 + 1 : x0 + 61][:, ::-1]
        np.testing.assert_allclose(left[..., 0], -right[..., 0], atol=1e-3, err_msg=code)
        np.testing.assert_allclose(left[..., 1], right[..., 1], atol=1e-3, err_msg=code)


@pytest.mark.parametrize("code", sorted(AU_BLOBS))
@pytest.mark.parametrize("iod", [22.0, 50.0])
def test_fields_are_smooth_enough_to_invert(code, iod):
    # At the largest peak SynthME allows (2.5 px) the capped field's Jacobian stays below MAX_JACOBIAN
    # (plus sampling slack), so the motion never folds and warp_by_flow's fixed point converges.
    lm = MEAN_SHAPE_68 * iod + [120.0, 80.0]
    blobs, used = normalise_peak(au_blobs(code, lm, iod), 2.5)
    assert used <= 2.5 + 1e-9
    field = dense_field(blobs, (200, 240)).astype(np.float64)
    dudy, dudx = np.gradient(field[..., 0])
    dvdy, dvdx = np.gradient(field[..., 1])
    assert max(np.abs(a).max() for a in (dudx, dudy, dvdx, dvdy)) < MAX_JACOBIAN + 0.05
    if iod == 50.0 and code not in ("24", "45"):  # AU24 (habit only) and AU45 are opposing/narrow by nature
        assert used >= 1.8  # the cap must not eat the class signal at demo face sizes


def test_dense_field_matches_pointwise_evaluation():
    blobs = au_blobs("6+12", LM, IOD)
    field = dense_field(blobs, (200, 240))
    ys, xs = np.mgrid[60:160:7, 60:180:9]
    pts = np.stack([xs.ravel(), ys.ravel()], 1)
    np.testing.assert_allclose(field[ys.ravel(), xs.ravel()], evaluate_blobs(blobs, pts), atol=1e-3)


def test_parse_aus():
    assert parse_aus("R14+17") == [("R", "14"), ("", "17")]
    with pytest.raises(UnknownNameError, match=re.escape("unknown action unit '99'")):
        parse_aus("4+99")

"""Flow and strain pictures."""

import cv2
import numpy as np
import pytest

from merkit.errors import ShapeError
from merkit.motion.viz import draw_flow_arrows, flow_to_color, save_png, strain_heatmap


def test_flow_to_color_direction_and_magnitude():
    flow = np.zeros((4, 8, 2), np.float32)
    flow[:, :4, 0] = 2.0  # right
    flow[:, 4:, 1] = 1.0  # down, half the magnitude
    rgb = flow_to_color(flow)
    assert rgb.shape == (4, 8, 3) and rgb.dtype == np.uint8
    assert tuple(rgb[0, 0]) == (255, 0, 0)  # right = red at full brightness
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    assert abs(int(hsv[0, 6, 0]) - 45) <= 1  # 90 degrees -> OpenCV hue 45
    assert abs(int(hsv[0, 6, 2]) - 127) <= 1
    assert not flow_to_color(np.zeros((4, 4, 2))).any()


def test_arrows_are_drawn_where_there_is_motion(photo_gray):
    flow = np.zeros((128, 128, 2), np.float32)
    flow[:64, :, 0] = 3.0
    out = draw_flow_arrows(photo_gray, flow, step=16)
    base = cv2.cvtColor(photo_gray, cv2.COLOR_GRAY2RGB)
    changed = np.any(out != base, axis=2)
    assert changed[:64].sum() > 50 and changed[72:].sum() == 0
    with pytest.raises(ShapeError, match="image must have the flow's size"):
        draw_flow_arrows(photo_gray[:64], flow)


def test_strain_heatmap_and_png_round_trip(tmp_path):
    strain = np.linspace(0, 0.2, 64).reshape(8, 8)
    rgb = strain_heatmap(strain)
    assert rgb.shape == (8, 8, 3) and rgb.dtype == np.uint8
    assert rgb[0, 0].sum() < rgb[-1, -1].sum()  # inferno: dark for low strain, bright for high
    path = save_png(rgb, tmp_path / "viz" / "strain.png")
    back = cv2.imread(str(path))[..., ::-1]
    np.testing.assert_array_equal(back, rgb)
    assert [p.name for p in path.parent.iterdir()] == ["strain.png"]
    with pytest.raises(ShapeError, match="must be uint8"):
        save_png(strain, tmp_path / "x.png")

"""The spot plot: each curve in its kind's colour, as its intervals and the legend; labels never overlap."""

import numpy as np
from matplotlib.colors import to_rgba

from merkit.face.track import FaceTrack
from merkit.motion.spotting import SpotConfig, SpotResult, SpottedInterval
from merkit.motion.spotting.report import KIND_COLORS, NO_FACE_COLOR, plot_scores, score_figure


def crowded_result(n=300) -> SpotResult:
    """Five intervals whose apexes are 2-4 frames apart, one far away, and a no-face stretch."""
    rng = np.random.default_rng(0)
    curves = {"micro": rng.random(n), "macro": rng.random(n) * 2}
    present = np.ones(n, bool)
    present[250:270] = False
    track = FaceTrack(np.zeros((n, 68, 2), np.float32), present, present.copy(), present.copy(),
                      np.ones(n, np.float32))
    intervals = [SpottedInterval(a - 3, a, a + 3, 1.0, 6.0, "micro") for a in (100, 102, 105, 108)]
    intervals += [SpottedInterval(95, 104, 125, 2.0, 9.0, "macro"), SpottedInterval(180, 190, 215, 2.0, 9.0, "macro")]
    return SpotResult("clip.mp4", 30.0, [f"f{i}" for i in range(n)], curves, {"micro": 6, "macro": 18}, track,
                      intervals, SpotConfig())


def label_boxes(fig):
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    return ax, [t.get_window_extent(renderer) for t in ax.texts]


def assert_no_overlap(boxes):
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not a.overlaps(b), (a, b)


def test_labels_of_close_intervals_do_not_overlap_and_stay_above_the_curves():
    result = crowded_result()
    fig = score_figure(result)
    ax, boxes = label_boxes(fig)
    assert [t.get_text() for t in ax.texts] == [str(k) for k in range(1, 7)]
    assert_no_overlap(boxes)
    assert len({round(b.y0) for b in boxes}) >= 3  # close apexes went to rows of their own
    plot_top = ax.transData.transform((0, max(np.nanmax(c) for c in result.curves.values())))[1]
    assert all(b.y0 > plot_top for b in boxes)  # the curves stay under the labels
    assert all(b.x0 >= ax.bbox.x0 - 20 and b.x1 <= ax.bbox.x1 + 20 for b in boxes)


def test_curves_intervals_and_legend_share_the_kind_colours():
    fig = score_figure(crowded_result())
    ax = fig.axes[0]
    lines = {line.get_label(): to_rgba(line.get_color()) for line in ax.get_legend().get_lines()}
    assert lines == {"micro score (k=6)": to_rgba(KIND_COLORS["micro"]),
                     "macro score (k=18)": to_rgba(KIND_COLORS["macro"])}
    patches = {t.get_text(): to_rgba(p.get_facecolor(), 1) for t, p in
               zip(ax.get_legend().get_texts()[2:], ax.get_legend().get_patches())}
    assert patches == {"micro interval": to_rgba(KIND_COLORS["micro"]), "macro interval": to_rgba(KIND_COLORS["macro"]),
                       "no face": to_rgba(NO_FACE_COLOR)}
    drawn = [to_rgba(line.get_color()) for line in ax.lines]
    assert drawn == [to_rgba(KIND_COLORS["micro"]), to_rgba(KIND_COLORS["macro"])]  # the curves themselves
    shaded = {to_rgba(p.get_facecolor(), 1) for p in ax.patches}
    assert shaded == set(patches.values())
    texts = {t.get_text(): to_rgba(t.get_color()) for t in ax.texts}
    assert texts["1"] == to_rgba(KIND_COLORS["micro"]) and texts["5"] == to_rgba(KIND_COLORS["macro"])


def test_plot_scores_writes_a_png(tmp_path):
    path = plot_scores(crowded_result(), tmp_path / "x_score.png")
    assert path.read_bytes()[:4] == b"\x89PNG"

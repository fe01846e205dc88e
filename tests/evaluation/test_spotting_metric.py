"""The MEGC spotting metric on hand-computed cases."""

from __future__ import annotations

import pytest

from merkit.errors import ConfigError
from merkit.evaluation.spotting import Interval, evaluate_spotting, interval_iou, match_intervals


def test_iou_counts_inclusive_frames():
    assert interval_iou((10, 19), (10, 19)) == 1.0
    assert interval_iou((10, 19), (15, 24)) == pytest.approx(5 / 15)   # 15..19 shared, 10..24 union
    assert interval_iou((0, 9), (10, 19)) == 0.0
    assert interval_iou((0, 10), (10, 20)) == pytest.approx(1 / 21)    # one shared frame


def test_iou_threshold_is_inclusive_at_half():
    gt = [Interval("v", 0, 9, "micro")]
    assert match_intervals([Interval("v", 0, 4, "micro")], gt).tp == 1          # 5/10 = 0.5 exactly
    assert match_intervals([Interval("v", 0, 3, "micro")], gt).tp == 0          # 4/10


def test_a_ground_truth_is_matched_once():
    gt = [Interval("v", 100, 120, "micro")]
    preds = [Interval("v", 100, 120, "micro", score=0.2), Interval("v", 101, 121, "micro", score=0.9)]
    c = match_intervals(preds, gt)
    assert (c.tp, c.fp, c.fn) == (1, 1, 0)


def test_pooled_counts_per_type_dataset_and_overall():
    gt = [Interval("a", 10, 20, "micro", dataset="casme_sq"), Interval("a", 50, 90, "macro", dataset="casme_sq"),
          Interval("b", 5, 15, "micro", dataset="samm_lv"), Interval("b", 40, 52, "micro", dataset="samm_lv")]
    preds = [Interval("a", 11, 21, "micro"),            # TP (IoU 10/12)
             Interval("a", 55, 95, "micro"),            # FP: right place, wrong type
             Interval("b", 5, 15, "micro"),             # TP
             Interval("b", 200, 210, "macro")]          # FP
    r = evaluate_spotting(preds, gt)
    micro, macro = r.per_kind["micro"], r.per_kind["macro"]
    assert (micro.tp, micro.fp, micro.fn) == (2, 1, 1)
    assert (macro.tp, macro.fp, macro.fn) == (0, 1, 1)
    assert (r.overall.tp, r.overall.fp, r.overall.fn) == (2, 2, 2)
    assert r.overall.precision == 0.5 and r.overall.recall == 0.5 and r.overall.f1 == 0.5
    assert micro.f1 == pytest.approx(2 * (2 / 3) * (2 / 3) / (4 / 3))
    sq = r.per_dataset[("casme_sq", "all")]
    assert (sq.tp, sq.fp, sq.fn) == (1, 1, 1)
    assert {row["scope"] for row in r.rows()} == {"type", "dataset", "overall"}


def test_no_prediction_scores_zero_and_bad_types_are_refused():
    gt = [Interval("a", 10, 20, "micro")]
    r = evaluate_spotting([], gt)
    assert (r.overall.fn, r.overall.f1, r.overall.precision) == (1, 0.0, 0.0)
    with pytest.raises(ConfigError, match="has type 'blink'"):
        evaluate_spotting([Interval("a", 1, 2, "blink")], gt)
    with pytest.raises(ConfigError, match="offset 3 before onset 5"):
        Interval("a", 5, 3, "micro")

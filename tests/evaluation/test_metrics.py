import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score, recall_score

from merkit.errors import ProtocolError
from merkit.evaluation import compute_metrics, confusion_matrix, per_group_reports, pooled_report

C = ["negative", "positive", "surprise"]


def test_hand_worked_confusion_matrix():
    # rows true, columns predicted:
    #            neg pos sur
    # negative    3   1   0
    # positive    1   1   0
    # surprise    0   1   1
    y_true = ["negative"] * 4 + ["positive"] * 2 + ["surprise"] * 2
    y_pred = ["negative", "negative", "negative", "positive", "negative", "positive", "positive", "surprise"]
    r = compute_metrics(y_true, y_pred, C)
    assert r.confusion == [[3, 1, 0], [1, 1, 0], [0, 1, 1]]
    # F1: neg 2*3/(6+1+1)=0.75, pos 2*1/(2+2+1)=0.4, sur 2*1/(2+0+1)=2/3
    assert r.uf1 == pytest.approx((0.75 + 0.4 + 2 / 3) / 3)
    # recall: 3/4, 1/2, 1/2
    assert r.uar == pytest.approx((0.75 + 0.5 + 0.5) / 3)
    assert r.accuracy == pytest.approx(5 / 8)
    assert r.weighted_f1 == pytest.approx((0.75 * 4 + 0.4 * 2 + 2 / 3 * 2) / 8)
    assert r.undefined == {"f1": [], "recall": []}


@pytest.mark.parametrize("seed", range(5))
def test_matches_scikit_learn_on_random_labels(seed):
    rng = np.random.default_rng(seed)
    y_true = list(rng.choice(C, 60, p=[0.57, 0.25, 0.18]))
    y_pred = list(rng.choice(C, 60))
    r = compute_metrics(y_true, y_pred, C)
    assert r.uf1 == pytest.approx(f1_score(y_true, y_pred, labels=C, average="macro"))
    assert r.uar == pytest.approx(recall_score(y_true, y_pred, labels=C, average="macro"))
    assert r.accuracy == pytest.approx(accuracy_score(y_true, y_pred))
    assert r.weighted_f1 == pytest.approx(f1_score(y_true, y_pred, labels=C, average="weighted"))


def test_absent_class_never_predicted_is_reported_not_dropped():
    # one LOSO subject showing only negative and positive, surprise never predicted
    y_true = ["negative", "negative", "positive"]
    y_pred = ["negative", "positive", "positive"]
    r = compute_metrics(y_true, y_pred, C)
    assert r.undefined == {"f1": ["surprise"], "recall": ["surprise"]}
    assert math.isnan(r.per_class["surprise"]["f1"]) and r.per_class["surprise"]["support"] == 0
    present = ["negative", "positive"]
    assert r.uf1 == pytest.approx(f1_score(y_true, y_pred, labels=present, average="macro"))
    assert r.uar == pytest.approx(recall_score(y_true, y_pred, labels=present, average="macro"))
    zero = compute_metrics(y_true, y_pred, C, zero_division="zero")
    assert zero.uf1 == pytest.approx(f1_score(y_true, y_pred, labels=C, average="macro", zero_division=0))
    assert zero.uf1 < r.uf1


def test_absent_class_that_is_predicted_counts_as_zero_f1():
    y_true = ["negative", "negative"]
    y_pred = ["negative", "surprise"]
    r = compute_metrics(y_true, y_pred, C)
    assert r.per_class["surprise"]["f1"] == 0.0
    assert r.undefined["f1"] == ["positive"]
    assert r.uf1 == pytest.approx((2 / 3 + 0.0) / 2)
    assert r.undefined["recall"] == ["positive", "surprise"]
    assert r.uar == pytest.approx(0.5)


def test_pooled_differs_from_mean_of_folds_and_groups_are_sorted():
    preds = pd.DataFrame(
        {
            "fold": ["a", "a", "b", "b", "b"],
            "dataset": ["casme2", "casme2", "samm", "samm", "samm"],
            "true_label": ["negative", "positive", "surprise", "negative", "negative"],
            "pred_label": ["negative", "negative", "surprise", "surprise", "negative"],
        }
    )
    pooled = pooled_report(preds, C)
    assert pooled.confusion == [[2, 0, 1], [1, 0, 0], [0, 0, 1]]
    folds = per_group_reports(preds, "fold", C)
    assert list(folds) == ["a", "b"]
    assert pooled.uf1 != pytest.approx(np.mean([f.uf1 for f in folds.values()]))
    assert list(per_group_reports(preds, "dataset", C)) == ["casme2", "samm"]


def test_bad_input_is_named():
    with pytest.raises(ProtocolError, match=r"predicted labels \['fear'\] are not among"):
        compute_metrics(["negative"], ["fear"], C)
    with pytest.raises(ProtocolError, match="y_true has 2 labels but y_pred has 1"):
        compute_metrics(["negative", "negative"], ["negative"], C)
    with pytest.raises(ProtocolError, match="zero_division"):
        compute_metrics(["negative"], ["negative"], C, zero_division="skip")
    with pytest.raises(ProtocolError, match=r"lack columns \['pred_label'\]"):
        pooled_report(pd.DataFrame({"true_label": ["negative"]}), C)
    assert confusion_matrix([], [], C).shape == (3, 3)

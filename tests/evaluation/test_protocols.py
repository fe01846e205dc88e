import numpy as np
import pytest

from merkit.errors import ProtocolError, UnknownNameError
from merkit.evaluation import Fold, check_folds, create_protocol, inner_validation_split, list_protocols


def test_composite_loso_has_one_fold_per_subject_and_covers_every_sample_once(table):
    protocol = create_protocol("megc2019_composite")
    prepared = protocol.prepare(table)
    assert set(prepared["label"]) <= {"negative", "positive", "surprise"}
    assert "others" not in set(prepared["emotion"])
    folds = protocol.folds(prepared)
    assert [f.name for f in folds] == sorted(prepared["subject_key"].unique())
    tested = np.concatenate([f.test_idx for f in folds])
    assert sorted(tested) == list(range(len(prepared)))
    for f in folds:
        assert set(prepared["subject_key"].iloc[f.test_idx]) == {f.name}
        assert f.name not in set(prepared["subject_key"].iloc[f.train_idx])
    # subject keys stay unique across sources: samm/001 and casme2/sub01 are different folds
    assert "samm/001" in [f.name for f in folds] and "casme2/sub01" in [f.name for f in folds]


def test_loso_within_one_dataset(table):
    with pytest.raises(ProtocolError, match="runs within one dataset"):
        create_protocol("loso").prepare(table)
    protocol = create_protocol("loso", dataset="samm")
    prepared = protocol.prepare(table)
    assert set(prepared["dataset"]) == {"samm"}
    assert [f.name for f in protocol.folds(prepared)] == ["samm/001", "samm/002", "samm/003", "samm/004"]


def test_cross_dataset_and_leave_one_dataset_out(table):
    cross = create_protocol("cross_dataset", train=["casme2", "samm"], test="smic_hs")
    prepared = cross.prepare(table)
    (fold,) = cross.folds(prepared)
    assert set(prepared["dataset"].iloc[fold.test_idx]) == {"smic_hs"}
    assert set(prepared["dataset"].iloc[fold.train_idx]) == {"casme2", "samm"}
    lodo = create_protocol("leave_one_dataset_out")
    p2 = lodo.prepare(table)
    assert [f.name for f in lodo.folds(p2)] == ["casme2", "samm", "smic_hs"]
    with pytest.raises(ProtocolError, match=r"datasets \['samm'\] are in both train and test"):
        create_protocol("cross_dataset", train="samm", test="samm")
    with pytest.raises(ProtocolError, match=r"datasets \['mmew'\] are not in the table"):
        create_protocol("cross_dataset", train="mmew", test="samm").prepare(table)


def test_label_set_is_enforced_with_the_sample_named(table):
    five = create_protocol("loso", dataset="casme2", label_set="casme2_5")
    prepared = five.prepare(table)
    assert "others" in set(prepared["label"])
    bad = table.copy()
    bad.loc[3, "label"] = "fear"
    with pytest.raises(ProtocolError,
                       match=f"sample '{bad.loc[3, 'sample_key']}'.*'fear' is outside label set 'megc3'"):
        create_protocol("megc2019_composite").prepare(bad)
    with pytest.raises(ProtocolError, match="no mapping for dataset 'samm'"):
        create_protocol("megc2019_composite", label_set="casme2_5").prepare(table)


def test_unknown_names_and_bad_folds_are_named(table):
    with pytest.raises(UnknownNameError, match="Did you mean 'loso'"):
        create_protocol("loso2")
    assert "megc2019_composite" in list_protocols()
    prepared = create_protocol("megc2019_composite").prepare(table)
    keys = prepared["subject_key"].to_numpy()
    leaky = Fold("casme2/sub01", np.arange(len(prepared)), np.flatnonzero(keys == "casme2/sub01"))
    with pytest.raises(ProtocolError, match="subject_key 'casme2/sub01' is in both the train and the test indices"):
        check_folds([leaky], prepared)
    with pytest.raises(ProtocolError, match="fold 'x' has an empty test set"):
        check_folds([Fold("x", np.arange(3), np.array([], dtype=np.int64))], prepared)
    with pytest.raises(ProtocolError, match="no folds"):
        check_folds([], prepared)


def test_inner_validation_uses_training_subjects_only_and_is_seeded(table):
    protocol = create_protocol("megc2019_composite")
    prepared = protocol.prepare(table)
    fold = protocol.folds(prepared)[0]
    fit, val = inner_validation_split(prepared, fold.train_idx, 0.25, seed=3)
    assert sorted(np.concatenate([fit, val])) == sorted(fold.train_idx)
    subjects = prepared["subject_key"].to_numpy()
    assert not set(subjects[fit]) & set(subjects[val])
    assert fold.name not in set(subjects[val])
    again = inner_validation_split(prepared, fold.train_idx, 0.25, seed=3)
    assert np.array_equal(again[1], val)
    other = inner_validation_split(prepared, fold.train_idx, 0.25, seed=4)
    assert not np.array_equal(other[1], val)
    with pytest.raises(ProtocolError, match="at least two training subjects"):
        inner_validation_split(prepared, fold.test_idx, 0.2)

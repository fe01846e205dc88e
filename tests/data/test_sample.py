import pandas as pd
import pytest

from merkit.data import Sample, get_label_set, samples_to_table, table_to_samples, validate_sample_table
from merkit.errors import AnnotationError, ProtocolError, UnknownNameError


def make(clip="EP02_01f", numbers=(46, 47, 48, 49, 50), onset=46, apex=48, offset=50, **kw):
    paths = [f"/d/sub01/{clip}/img{n}.jpg" for n in numbers]
    args = dict(dataset="casme2", subject="sub01", clip=clip, frame_paths=paths, frame_numbers=numbers,
                onset=onset, apex=apex, offset=offset, fps=200.0, emotion="happiness", action_units="12")
    args.update(kw)
    return Sample(**args)


def test_indices_follow_frame_numbers_not_positions_in_text_order():
    s = make(numbers=(98, 99, 100, 101), onset=99, apex=100, offset=101)
    assert (s.onset_index, s.apex_index, s.offset_index) == (1, 2, 3)
    assert s.key == "casme2/sub01/EP02_01f" and s.subject_key == "casme2/sub01"


def test_table_round_trip_preserves_every_field():
    samples = [make(), make(clip="EP03_02", apex=49, flags={"apex_estimated"}, label="positive")]
    table = samples_to_table(samples)
    assert list(table["apex_index"]) == [2, 3]
    assert table.loc[1, "flags"] == ("apex_estimated",)
    assert table_to_samples(table) == samples


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(apex=52), "apex frame 52 is not among the frames on disk"),
        (dict(onset=48, apex=47), "expected onset <= apex <= offset"),
        (dict(numbers=(46, 48, 47, 49, 50)), "strictly increasing"),
        (dict(fps=0.0), "fps must be a positive number"),
        (dict(flags={"weird"}), "unknown flags ['weird']"),
        (dict(subject="a/b"), "subject must be a non-empty string"),
    ],
)
def test_bad_samples_name_the_sample(kwargs, message):
    with pytest.raises(AnnotationError) as info:
        make(**kwargs)
    assert message in str(info.value)
    assert "casme2/" in str(info.value)


def test_duplicate_keys_and_missing_columns_are_rejected():
    with pytest.raises(AnnotationError, match="duplicated sample keys"):
        samples_to_table([make(), make()])
    table = samples_to_table([make()])
    with pytest.raises(AnnotationError, match=r"lacks columns \['apex'\]"):
        validate_sample_table(table.drop(columns=["apex"]))
    broken = table.copy()
    broken.loc[0, "apex_index"] = 0
    with pytest.raises(AnnotationError, match="apex_index 0 does not point at frame 48"):
        validate_sample_table(broken)


def test_label_sets_map_emotions_and_drop_the_rest():
    megc = get_label_set("megc3")
    table = samples_to_table([make(emotion="Disgust"), make(clip="b", emotion="others"), make(clip="c")])
    labelled = megc.apply(table)
    assert list(labelled["label"]) == ["negative", "positive"]
    assert megc.encode(["surprise", "negative"]) == [2, 0]
    with pytest.raises(ProtocolError, match="sample 'x'.*'fear' is outside label set 'megc3'"):
        megc.encode(["fear"], context=["x"])
    with pytest.raises(ProtocolError, match="no mapping for dataset 'mmew'"):
        megc.class_of("mmew", "happiness")
    with pytest.raises(UnknownNameError, match="Did you mean 'megc3'"):
        get_label_set("megc")
    assert isinstance(labelled, pd.DataFrame)

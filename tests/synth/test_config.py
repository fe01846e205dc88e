import re

import pytest

from merkit.errors import ConfigError, UnknownNameError
from merkit.synth import get_preset, list_presets
from merkit.synth._plan import SUBJECT_IDS, plan_dataset
from merkit.synth.config import SOURCES


def test_presets_listed():
    assert list_presets() == ["full", "small", "tiny"]


def test_full_preset_matches_megc2019_composite():
    cfg = get_preset("full")
    counts = {s: cfg.sources[s].class_counts for s in SOURCES}
    # docs/datasets.md, "MEGC2019 composite": SMIC 70/51/43, CASME II 88/32/25, SAMM 92/26/15; 442 over 68 subjects.
    assert counts == {"casme2": (88, 32, 25), "samm": (92, 26, 15), "smic_hs": (70, 51, 43)}
    assert sum(sum(c) for c in counts.values()) == 442
    assert {s: cfg.sources[s].n_subjects for s in SOURCES} == {"casme2": 24, "samm": 28, "smic_hs": 16}
    assert {s: cfg.sources[s].fps for s in SOURCES} == {"casme2": 200.0, "samm": 200.0, "smic_hs": 100.0}


@pytest.mark.parametrize("preset", ["tiny", "small", "full"])
def test_class_imbalance_like_megc(preset):
    cfg = get_preset(preset)
    totals = [sum(cfg.sources[s].class_counts[i] for s in SOURCES) for i in range(3)]
    share = [t / sum(totals) for t in totals]
    tol = 0.1 if preset == "tiny" else 0.04
    assert share[0] == pytest.approx(0.57, abs=tol)
    assert share[1] == pytest.approx(0.25, abs=tol)
    assert share[2] == pytest.approx(0.19, abs=tol)


def test_small_is_demo_sized():
    cfg = get_preset("small")
    n_clips = sum(sum(cfg.sources[s].class_counts) for s in SOURCES)
    n_subjects = sum(cfg.sources[s].n_subjects for s in SOURCES)
    assert 60 <= n_clips <= 90 and 12 <= n_subjects <= 16


def test_plan_full_every_subject_has_clips_and_classes_match():
    cfg = get_preset("full")
    plans = plan_dataset(cfg, seed=3)
    for source in SOURCES:
        subs = [p for p in plans if p.source == source]
        assert [p.subject for p in subs] == list(SUBJECT_IDS[source][: cfg.sources[source].n_subjects])
        assert all(len(p.clips) >= 1 for p in subs)
        clips = [c for p in subs for c in p.clips]
        for i, cls in enumerate(("negative", "positive", "surprise")):
            assert sum(c.cls == cls for c in clips) == cfg.sources[source].class_counts[i]
        names = [(c.subject, c.clip) for c in clips]
        assert len(set(names)) == len(names)
        for c in clips:
            assert c.onset < c.apex < c.offset
            assert c.frame_numbers[0] <= c.onset and c.offset <= c.frame_numbers[-1]
            assert (c.annotated_apex is None) == (source == "smic_hs")


def test_plan_identity_is_a_confound():
    # Subjects' class mixes differ much more than a shared prior would give (lopsided propensities).
    plans = plan_dataset(get_preset("full"), seed=0)
    shares = []
    for p in plans:
        if len(p.clips) >= 6:
            shares.append(sum(c.cls == "negative" for c in p.clips) / len(p.clips))
    assert max(shares) - min(shares) > 0.4
    habits = {p.identity.habit_aus for p in plans}
    assert len(habits) >= 4
    assert len({p.identity.glasses for p in plans}) == 2


def test_plan_is_deterministic_and_seed_dependent():
    cfg = get_preset("small")
    a, b, c = plan_dataset(cfg, 1), plan_dataset(cfg, 1), plan_dataset(cfg, 2)
    key = lambda plans: [(x.subject, y.clip, y.combo, y.onset, y.apex) for x in plans for y in x.clips]  # noqa: E731
    assert key(a) == key(b)
    assert key(a) != key(c)


def test_override_dotted_keys():
    cfg = get_preset("tiny").replace(**{"blink_rate": 0.0, "samm.camera.noise_sigma": 0.0, "casme2.n_other": 0})
    assert cfg.blink_rate == 0.0
    assert cfg.sources["samm"].camera.noise_sigma == 0.0
    assert cfg.sources["casme2"].n_other == 0
    assert get_preset("tiny").blink_rate != 0.0  # presets are not mutated


def test_override_unknown_key_names_closest():
    with pytest.raises(ConfigError, match=re.escape("Did you mean 'blink_rate'?")):
        get_preset("tiny").replace(blink_rat=0.1)
    with pytest.raises(ConfigError, match=re.escape("Did you mean samm.camera.'noise_sigma'?")):
        get_preset("tiny").replace(**{"samm.camera.noise_sigm": 0.1})


def test_bad_values_rejected():
    with pytest.raises(ConfigError, match="blink_rate must be a probability"):
        get_preset("tiny").replace(blink_rate=1.5)
    with pytest.raises(ConfigError, match="too small for iod_px"):
        get_preset("tiny").replace(**{"casme2.camera.frame_size": (40, 30)})
    with pytest.raises(ConfigError, match="every subject needs at least one clip"):
        get_preset("tiny").replace(**{"casme2.class_counts": (1, 0, 0)})


def test_unknown_preset():
    with pytest.raises(UnknownNameError, match=re.escape("Did you mean 'small'?")):
        get_preset("smal")

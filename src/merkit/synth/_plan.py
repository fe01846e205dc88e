"""SynthME planning: every random draw that decides *what* is generated (no pixels here).

The plan fixes subjects, their identities, which clips each subject has
(class, AU combination, emotion word, clip name, frame numbers, true and
annotated apex) and the nuisance events of each clip. It is made in one
process from the seed, so rendering can run in parallel without changing a
byte. Each subject and clip gets its own seed sequence ``[seed, source,
subject, clip, stream]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from merkit.errors import ConfigError
from merkit.synth.actions import CLASS_AU_COMBOS, OTHER_AU_COMBOS
from merkit.synth.config import SOURCES, SourceConfig, SynthConfig
from merkit.synth.identity import Identity, sample_identity

__all__ = ["ClipPlan", "SubjectPlan", "plan_dataset", "SUBJECT_IDS", "CLASSES"]

CLASSES: tuple[str, ...] = ("negative", "positive", "surprise")

#: Subject ids per source as the folders spell them, in the order presets take them. CASME II
#: skips sub10 and sub18 and SAMM skips 025 (no MEGC clips in the real data; datasets.md 10.3).
SUBJECT_IDS: dict[str, tuple[str, ...]] = {
    "casme2": tuple(f"sub{i:02d}" for i in range(1, 27) if i not in (10, 18)),
    "samm": tuple(f"{i:03d}" for i in range(6, 38) if i not in (8, 25, 27, 29)),
    "smic_hs": tuple(f"s{i}" for i in (1, 2, 3, 4, 5, 6, 8, 9, 11, 12, 13, 14, 15, 18, 19, 20)),
}

# Negative AU combination -> emotion word per dataset (section 2.3 / 3.3 vocabularies).
_NEGATIVE_EMOTION = {
    "casme2": {"4": "disgust", "4+7": "disgust", "9": "disgust", "10": "disgust",
               "14": "repression", "15": "repression", "17": "repression"},
    "samm": {"4": "Anger", "4+7": "Anger", "9": "Disgust", "10": "Disgust",
             "14": "Contempt", "15": "Sadness", "17": "Sadness"},
}
_EMOTION = {
    "casme2": {"positive": "happiness", "surprise": "surprise", "other": "others"},
    "samm": {"positive": "Happiness", "surprise": "Surprise", "other": "Other"},
    "smic_hs": {"negative": "negative", "positive": "positive", "surprise": "surprise"},
}
# SAMM objective classes (Davison et al. 2018), by AU combination; approximate for synthetic clips.
_SAMM_OBJECTIVE = {"12": 1, "6+12": 1, "1+2": 2, "1+2+5": 2, "26": 2, "4": 3, "4+7": 3, "9": 4, "10": 4,
                   "15": 5, "17": 5, "14": 7}
_SMIC_TOKEN = {"negative": "ne", "positive": "po", "surprise": "sur"}


@dataclass(frozen=True)
class ClipPlan:
    """Everything decided about one clip before rendering.

    Frame numbers are the dataset's own (``img46.jpg`` is 46). ``apex`` is the true apex;
    ``annotated_apex`` is what the sheet says (``None`` for SMIC, which has no apex).
    """

    source: str
    subject: str
    clip: str
    cls: str
    emotion: str
    combo: str
    frame_numbers: tuple[int, ...]
    onset: int
    apex: int
    offset: int
    annotated_apex: int | None
    fps: float
    peak_px: float
    au_weights: tuple[float, ...]
    blink: tuple[float, float, float] | None  # (start_s, duration_s, peak_iod), times from onset
    habit: tuple[float, float, float] | None  # (start_s, duration_s, peak_px)
    inducement: int
    objective_class: int
    seed: tuple[int, ...]
    amplitude_scale: float = 1.0  # SynthConfig.amplitude_scale, applied to the class AUs after peak_px
    appearance: tuple[float, ...] = ()  # per-AU peak relative luminance change (empty: no appearance cue)


@dataclass(frozen=True)
class SubjectPlan:
    """One subject of one source, with its identity and clips (in sheet order)."""

    source: str
    subject: str
    identity: Identity
    clips: tuple[ClipPlan, ...] = field(default_factory=tuple)
    seed: tuple[int, ...] = ()


def _choose(rng: np.random.Generator, table: tuple[tuple[str, float], ...]) -> str:
    names = [n for n, _ in table]
    p = np.array([w for _, w in table], np.float64)
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def _assign(rng: np.random.Generator, labels: list[str], n_subjects: int, cfg: SynthConfig) -> list[int]:
    """Subject index per clip: uneven subject sizes and lopsided per-subject class propensities."""
    kinds = sorted(set(labels))
    size = rng.dirichlet(np.full(n_subjects, cfg.subject_size_concentration))
    affinity = rng.dirichlet(np.full(len(kinds), cfg.subject_class_concentration), size=n_subjects)
    owner = []
    for lab in labels:
        p = size * affinity[:, kinds.index(lab)]
        owner.append(int(rng.choice(n_subjects, p=p / p.sum())))
    counts = np.bincount(owner, minlength=n_subjects)
    for s in range(n_subjects):  # every subject gets at least one clip, taken from the largest
        if counts[s] == 0:
            donor = int(np.argmax(counts))
            i = max(i for i, o in enumerate(owner) if o == donor)
            owner[i] = s
            counts[donor] -= 1
            counts[s] += 1
    return owner


def _clip_names(source: str, subject: str, labels: list[str], rng: np.random.Generator) -> list[tuple[str, int]]:
    names, used, per_class = [], set(), {}
    for lab in labels:
        if source == "casme2":
            while True:
                task = int(rng.integers(1, 20))
                k = 1 + sum(1 for t, _ in used if t == task)
                if (task, k) not in used:
                    break
            used.add((task, k))
            names.append((f"EP{task:02d}_{k:02d}" + ("f" if rng.random() < 0.6 else ""), task))
        elif source == "samm":
            ind = int(rng.integers(1, 8))
            k = 1 + sum(1 for t, _ in used if t == ind)
            used.add((ind, k))
            names.append((f"{subject}_{ind}_{k}", ind))
        else:
            per_class[lab] = per_class.get(lab, 0) + 1
            names.append((f"{subject}_{_SMIC_TOKEN[lab]}_{per_class[lab]:02d}", 0))
    return names


def _plan_clip(source: str, src: SourceConfig, cfg: SynthConfig, subject: str, identity: Identity, clip: str,
               inducement: int, label: str, rng: np.random.Generator, seed: tuple[int, ...]) -> ClipPlan:
    combo_table = OTHER_AU_COMBOS if label == "other" else CLASS_AU_COMBOS[label]
    base = _choose(rng, combo_table)
    combo = base
    if base == "14" and rng.random() < 0.5:  # contempt-like dimpler is often one-sided
        combo = ("L" if rng.random() < 0.5 else "R") + base
    if label == "negative" and source in _NEGATIVE_EMOTION:
        emotion = _NEGATIVE_EMOTION[source][base]
    else:
        emotion = _EMOTION[source][label]
    n_active = max(3, int(round(rng.uniform(*src.duration_s) * src.fps)))
    pre, post = (int(rng.integers(src.baseline_frames[0], src.baseline_frames[1] + 1)) for _ in range(2))
    if source == "casme2":
        onset = int(rng.integers(pre + 1, 400))
    elif source == "samm":
        onset = int(rng.integers(100, 9000))
    else:
        onset = int(rng.integers(1000, 90000))
    offset = onset + n_active - 1
    lo, hi = src.apex_position
    apex = onset + int(round(rng.uniform(lo, hi) * (n_active - 1)))
    apex = min(max(apex, onset + 1), offset - 1)
    annotated = None
    if source != "smic_hs":
        jitter = rng.normal(0.0, src.apex_annotation_jitter * n_active)
        annotated = int(min(max(round(apex + jitter), onset), offset))
    frames = tuple(range(onset - pre, offset + post + 1))
    t0, t1 = (frames[0] - onset) / src.fps, (frames[-1] - onset) / src.fps
    peak = float(min(rng.uniform(*cfg.au_peak_px) * identity.expressiveness, cfg.au_peak_max_px))
    weights = tuple(float(rng.uniform(*cfg.au_weight_range)) for _ in combo.split("+"))
    blink = None
    if rng.random() < cfg.blink_rate:
        dur = float(rng.uniform(*cfg.blink_duration_s))
        blink = (float(rng.uniform(t0 - dur / 2, t1 - dur / 2)), dur, float(rng.uniform(*cfg.blink_peak_iod)))
    habit = None
    if rng.random() < identity.habit_rate:
        dur = float(rng.uniform(*cfg.habit_duration_s))
        habit = (float(rng.uniform(t0 - dur / 2, t1 - dur / 2)), dur,
                 float(identity.habit_amplitude * cfg.au_peak_px[1]))
    objective = 7 if label == "other" else _SAMM_OBJECTIVE[base]
    appearance: tuple[float, ...] = ()
    if cfg.appearance_contrast > 0:  # no draws: the default plan stays what it was
        expr = min(identity.expressiveness, cfg.au_peak_max_px / cfg.au_peak_px[1])
        appearance = tuple(float(cfg.appearance_contrast * w * expr) for w in weights)
    return ClipPlan(source=source, subject=subject, clip=clip, cls=label, emotion=emotion, combo=combo,
                    frame_numbers=frames, onset=onset, apex=apex, offset=offset, annotated_apex=annotated,
                    fps=src.fps, peak_px=peak, au_weights=weights, blink=blink, habit=habit,
                    inducement=inducement, objective_class=objective, seed=seed,
                    amplitude_scale=float(cfg.amplitude_scale), appearance=appearance)


def plan_dataset(cfg: SynthConfig, seed: int) -> list[SubjectPlan]:
    """Plan every subject and clip of a SynthME dataset.

    Args:
        cfg: the configuration (a preset with overrides).
        seed: the dataset seed.

    Returns:
        Subject plans, grouped by source in :data:`SOURCES` order, subjects in id order.
    """
    plans = []
    for s_idx, source in enumerate(SOURCES):
        if source not in cfg.sources:
            continue
        src = cfg.sources[source]
        ids = SUBJECT_IDS[source]
        if src.n_subjects > len(ids):
            raise ConfigError(f"{source}.n_subjects={src.n_subjects} exceeds the {len(ids)} subject ids of the "
                              f"real dataset layout; use at most {len(ids)}.")
        rng = np.random.default_rng([seed, s_idx, 0xA551])
        labels = [c for c, n in zip(CLASSES, src.class_counts) for _ in range(n)]
        labels += ["other"] * (src.n_other if source != "smic_hs" else 0)
        owner = _assign(rng, labels, src.n_subjects, cfg)
        for j in range(src.n_subjects):
            subject = ids[j]
            sub_seed = (seed, s_idx, j)
            srng = np.random.default_rng([*sub_seed, 0])
            identity = sample_identity(
                srng, glasses_rate=cfg.glasses_rate, habit_rate=cfg.habit_rate, habit_amplitude=cfg.habit_amplitude,
                expressiveness_sigma=cfg.expressiveness_sigma, shape_jitter=cfg.shape_jitter)
            mine = [lab for lab, o in zip(labels, owner) if o == j]
            mine = [mine[i] for i in srng.permutation(len(mine))]
            named = _clip_names(source, subject, mine, srng)
            clips = [
                _plan_clip(source, src, cfg, subject, identity, name, ind, lab,
                           np.random.default_rng([*sub_seed, k + 1]), (*sub_seed, k + 1))
                for k, ((name, ind), lab) in enumerate(zip(named, mine))
            ]
            clips.sort(key=lambda c: c.clip)
            plans.append(SubjectPlan(source=source, subject=subject, identity=identity, clips=tuple(clips),
                                     seed=sub_seed))
    return plans

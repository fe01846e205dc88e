"""The MEGC spotting metric: interval matching at IoU >= 0.5, precision, recall, F1.

Intervals are inclusive frame ranges ``[onset, offset]``; their IoU counts frames:
``|A n B| / |A u B|`` with ``|[a, b]| = b - a + 1``. Within one video and one expression
type, predictions are taken in order of decreasing score (given order when scores tie or
are absent); each becomes a true positive when its IoU with a not-yet-matched
ground-truth interval of the same type is at least ``iou_threshold`` (the best such one
is matched), else a false positive; unmatched ground truth are false negatives.

Counts are pooled, as MEGC does: per type over all videos, per dataset, and overall (the
sum over types and videos). ``P = TP / (TP + FP)``, ``R = TP / (TP + FN)``,
``F1 = 2PR / (P + R)``; a ratio with a zero denominator is 0 (no prediction: P = 0), so a
spotter that reports nothing scores F1 = 0.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from merkit.errors import ConfigError

__all__ = ["Interval", "SpotCounts", "SpottingReport", "interval_iou", "match_intervals", "evaluate_spotting"]


@dataclass(frozen=True)
class Interval:
    """One interval of a video.

    Attributes:
        video: video key (must match between predictions and ground truth).
        onset, offset: inclusive frame numbers.
        kind: ``'micro'`` or ``'macro'``.
        score: prediction confidence (ignored for ground truth).
        dataset: dataset the video belongs to (for the per-dataset breakdown).
    """

    video: str
    onset: int
    offset: int
    kind: str
    score: float = 0.0
    dataset: str = ""

    def __post_init__(self) -> None:
        if self.offset < self.onset:
            raise ConfigError(f"interval of {self.video!r} has offset {self.offset} before onset {self.onset}; "
                              f"expected onset <= offset (inclusive frame numbers).")


@dataclass
class SpotCounts:
    """True positives, false positives and false negatives, with the derived ratios."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def __iadd__(self, other: SpotCounts) -> SpotCounts:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        return self

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class SpottingReport:
    """Pooled counts of :func:`evaluate_spotting`.

    Attributes:
        per_video: (video, kind) -> counts.
        per_kind: kind -> counts pooled over videos.
        per_dataset: (dataset, kind) -> counts; kind ``'all'`` pools the types.
        overall: everything pooled.
    """

    per_video: dict[tuple[str, str], SpotCounts]
    per_kind: dict[str, SpotCounts]
    per_dataset: dict[tuple[str, str], SpotCounts]
    overall: SpotCounts

    def rows(self) -> list[dict[str, object]]:
        """One dict per line of the breakdown (scope, dataset, kind, tp, fp, fn, precision, recall, f1)."""
        out = []

        def add(scope: str, dataset: str, kind: str, c: SpotCounts) -> None:
            out.append({"scope": scope, "dataset": dataset, "kind": kind, "tp": c.tp, "fp": c.fp, "fn": c.fn,
                        "precision": round(c.precision, 4), "recall": round(c.recall, 4), "f1": round(c.f1, 4)})

        for kind, c in sorted(self.per_kind.items()):
            add("type", "", kind, c)
        for (dataset, kind), c in sorted(self.per_dataset.items()):
            add("dataset", dataset, kind, c)
        add("overall", "", "all", self.overall)
        return out


def interval_iou(a: tuple[int, int], b: tuple[int, int]) -> float:
    """IoU of two inclusive frame intervals ``(onset, offset)``."""
    inter = min(a[1], b[1]) - max(a[0], b[0]) + 1
    if inter <= 0:
        return 0.0
    union = (a[1] - a[0] + 1) + (b[1] - b[0] + 1) - inter
    return inter / union


def match_intervals(predictions: Iterable[Interval], truth: Iterable[Interval],
                    iou_threshold: float = 0.5) -> SpotCounts:
    """TP / FP / FN of predictions against ground truth of one video and type (module docstring)."""
    if not 0 < iou_threshold <= 1:
        raise ConfigError(f"iou_threshold must be in (0, 1]; got {iou_threshold!r}.")
    gt = list(truth)
    free = [True] * len(gt)
    counts = SpotCounts()
    order = sorted(enumerate(predictions), key=lambda ip: (-ip[1].score, ip[0]))
    for _, p in order:
        best, best_iou = -1, 0.0
        for j, g in enumerate(gt):
            if free[j]:
                iou = interval_iou((p.onset, p.offset), (g.onset, g.offset))
                if iou >= iou_threshold and iou > best_iou:
                    best, best_iou = j, iou
        if best >= 0:
            free[best] = False
            counts.tp += 1
        else:
            counts.fp += 1
    counts.fn = sum(free)
    return counts


def evaluate_spotting(predictions: Iterable[Interval], truth: Iterable[Interval], *, iou_threshold: float = 0.5,
                      kinds: tuple[str, ...] = ("micro", "macro")) -> SpottingReport:
    """Score predicted intervals against ground truth, per video, type, dataset and overall.

    Args:
        predictions: predicted intervals (``video`` keys as in ``truth``; ``score`` orders the matching).
        truth: ground-truth intervals (``dataset`` set for the per-dataset breakdown).
        iou_threshold: least IoU for a true positive (MEGC: 0.5).
        kinds: expression types evaluated; intervals of other types are an error.

    Returns:
        :class:`SpottingReport`. Videos are those of ``truth`` plus any only predicted on.

    Raises:
        ConfigError: an interval's type is not in ``kinds``.
    """
    preds, gts = list(predictions), list(truth)
    for i in preds + gts:
        if i.kind not in kinds:
            raise ConfigError(f"interval of {i.video!r} [{i.onset}, {i.offset}] has type {i.kind!r}; "
                              f"expected one of {list(kinds)!r}.")
    dataset_of = {g.video: g.dataset for g in gts}
    by_video: dict[tuple[str, str], tuple[list[Interval], list[Interval]]] = defaultdict(lambda: ([], []))
    for p in preds:
        by_video[(p.video, p.kind)][0].append(p)
        dataset_of.setdefault(p.video, p.dataset)
    for g in gts:
        by_video[(g.video, g.kind)][1].append(g)
    per_video, per_kind = {}, {k: SpotCounts() for k in kinds}
    per_dataset: dict[tuple[str, str], SpotCounts] = defaultdict(SpotCounts)
    overall = SpotCounts()
    for key in sorted(by_video):
        c = match_intervals(*by_video[key], iou_threshold=iou_threshold)
        per_video[key] = c
        per_kind[key[1]] += c
        dataset = dataset_of.get(key[0], "")
        per_dataset[(dataset, key[1])] += c
        per_dataset[(dataset, "all")] += c
        overall += c
    return SpottingReport(per_video, per_kind, dict(per_dataset), overall)

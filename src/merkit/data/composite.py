"""MEGC2019 composite (CDE): SMIC-HS + CASME II + SAMM, 3 classes, 442 samples, 68 subjects.

Membership and labels come from the official ground-truth list, never from
re-deriving labels: ``megc2019_gt.csv`` (package data) is
``images/combined_3class_gt.csv`` of Facial-Micro-ExpressionGC/MEGC2019,
committed 2018-12-07 (commit 1220bd0b), byte for byte (CRLF, no header;
sha256 ``adf1de4a…``). Its rows are ``dataset,subject,filename,class`` with
class 0 negative, 1 positive, 2 surprise, and three subject spellings
(docs/datasets.md, "MEGC2019 composite (megc2019_cde)")::

    casme2,sub01,EP02_01f,1      -> casme2 sub01/EP02_01f
    smic,s01,s01_ne_01,0         -> smic_hs s1/micro/negative/s1_ne_01
    samm,6,006_1_2,0             -> samm 006/006_1_2

A user's own list in the same format (the SynthME benchmark writes one) is
passed as ``gt_csv``; all-empty rows (``,,,``) and a ``data,subject,clip,label``
header line are skipped. The composite table keeps the source dataset names
(``casme2``, ``samm``, ``smic_hs``) so subject keys stay unique, and its
``label`` is the GT class name.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from merkit.data._base import TableLoader
from merkit.data._reports import LoadReport, Problem, PublishedCounts, is_collecting
from merkit.data._excel import parse_csv, read_text
from merkit.data.apex import ApexPolicy
from merkit.data.casme2 import CASME2, casme2_subject
from merkit.data.labels import get_label_set
from merkit.data.paths import resolve_root
from merkit.data.registry import register_dataset
from merkit.data.samm import SAMM, samm_subject
from merkit.data.sample import samples_to_table, table_to_samples
from merkit.data.smic import SMICHS, smic_subject
from merkit.errors import AnnotationError, DatasetNotFoundError, ProtocolError

__all__ = ["MEGC2019Composite", "read_megc_gt", "MEGC_CLASSES", "OFFICIAL_GT_SHA256"]

logger = logging.getLogger(__name__)

#: Class order of the MEGC2019 GT (class id = index).
MEGC_CLASSES = ("negative", "positive", "surprise")
#: sha256 of the packaged official list.
OFFICIAL_GT_SHA256 = "adf1de4a088d4c3b3bd01cc8d061e836264d0e05140266eb15d8dc1050f484a7"
_SOURCE = {"casme2": "casme2", "smic": "smic_hs", "samm": "samm"}
#: GT dataset -> the loader's subject normaliser (GT subjects are spelled like the annotation cells)
_SUBJECT_OF = {"casme2": casme2_subject, "smic": smic_subject, "samm": samm_subject}


def read_megc_gt(gt_csv: str | os.PathLike | None = None) -> pd.DataFrame:
    """Read a MEGC2019-format ground-truth list.

    Args:
        gt_csv: path of a list; ``None`` for the packaged official 442-row list.

    Returns:
        DataFrame with columns ``gt_dataset`` (``casme2``/``smic``/``samm``), ``gt_subject``,
        ``gt_clip`` (as written), ``dataset``, ``subject``, ``clip`` (as the loaders name them),
        ``class_id`` (0/1/2), ``label`` (class name) and ``line`` (1-based line in the file);
        ``attrs["sha256"]`` is the sha256 of the bytes the rows were read from.

    Raises:
        DatasetNotFoundError: the file does not exist.
        AnnotationError: a row does not have 4 fields, an unknown dataset, a bad
            class, or a duplicate; the message names the line.
    """
    if gt_csv is None:
        data = resources.files("merkit.data").joinpath("megc2019_gt.csv").read_bytes()
        text, name = data.decode("utf-8"), "merkit/data/megc2019_gt.csv"
    else:
        path = Path(gt_csv)
        if not path.is_file():
            raise DatasetNotFoundError(f"MEGC ground-truth list {str(path)!r} does not exist; expected combined_3class_gt.csv format.")
        data = path.read_bytes()
        text, name = read_text(path, "a ground-truth list 'dataset,subject,filename,class'", data), str(path)
    records = []
    seen: dict[tuple[str, str, str], int] = {}
    for line, text_line in enumerate(text.splitlines(), start=1):
        fields = [f.strip() for f in parse_csv(text_line, f"{name} line {line}")[0]] if text_line.strip() else []
        if not any(fields):
            continue
        if len(fields) != 4:
            raise AnnotationError(f"{name} line {line}: expected 4 fields 'dataset,subject,filename,class'; got {fields!r}.")
        gt_dataset, gt_subject, gt_clip, cls = fields
        if line == 1 and not re.fullmatch(r"\d+", cls):
            continue  # a header line such as dq's 'data,subject,clip,label'
        gt_dataset = gt_dataset.casefold()
        if gt_dataset not in _SOURCE:
            raise AnnotationError(f"{name} line {line}: unknown dataset {gt_dataset!r}; expected one of {sorted(_SOURCE)!r}.")
        if cls not in ("0", "1", "2"):
            raise AnnotationError(f"{name} line {line}: class must be 0 (negative), 1 (positive) or 2 (surprise); got {cls!r}.")
        subject, clip = _source_ids(gt_dataset, gt_subject, gt_clip, f"{name} line {line}")
        key = (gt_dataset, subject, clip)
        if key in seen:
            raise AnnotationError(f"{name} line {line}: {gt_dataset},{gt_subject},{gt_clip} repeats line {seen[key]}.")
        seen[key] = line
        records.append({
            "gt_dataset": gt_dataset, "gt_subject": gt_subject, "gt_clip": gt_clip,
            "dataset": _SOURCE[gt_dataset], "subject": subject, "clip": clip,
            "class_id": int(cls), "label": MEGC_CLASSES[int(cls)], "line": line,
        })
    if not records:
        raise AnnotationError(f"{name}: no ground-truth rows; expected lines 'dataset,subject,filename,class'.")
    table = pd.DataFrame.from_records(records)
    table.attrs["sha256"] = hashlib.sha256(data).hexdigest()
    return table


def _cropped_if_present(dataset: str, variant: str | None, root: str | os.PathLike | None, cropped: tuple[str, ...]) -> str | None:
    """``variant``, else ``"cropped"`` when the root has a cropped folder (the MEGC2019 convention), else ``None`` (detect)."""
    if variant is not None:
        return variant
    if root is None:  # the loader will read MERKIT_<NAME>_ROOT / MERKIT_DATA_ROOT: look there too
        try:
            root = resolve_root(dataset, None)
        except DatasetNotFoundError:
            return None  # the loader reports it
    return "cropped" if any((Path(root) / name).is_dir() for name in cropped) else None


def _source_ids(dataset: str, subject: str, clip: str, where: str) -> tuple[str, str]:
    """GT spelling -> loader spelling: ``s01``/``s01_ne_01`` -> ``s1``/``s1_ne_01``; ``6`` -> ``006``."""
    try:
        loader_subject = _SUBJECT_OF[dataset](subject, where)
    except AnnotationError:
        raise AnnotationError(f"{where}: subject {subject!r} is not a valid {dataset} subject id.") from None
    if dataset == "smic":
        clip = re.sub(r"^s0*(\d+)_", lambda m: f"s{int(m.group(1))}_", clip, flags=re.IGNORECASE)
    return loader_subject, clip


@register_dataset("megc2019_cde")
class MEGC2019Composite(TableLoader):
    """The MEGC2019 composite sample table, built from the CASME II, SAMM and SMIC-HS loaders.

    Args:
        root: a folder holding ``CASME2/``, ``SAMM/`` and ``SMIC/`` (each the
            loader's root); the ``*_root`` arguments override it per dataset.
        casme2_root, samm_root, smic_root: the three dataset roots (``None``:
            ``root/<NAME>`` or the loaders' environment variables).
        gt_csv: a ground-truth list; ``None`` = the packaged official list.
        casme2_variant, smic_variant: ``"cropped"`` or ``"raw"`` frames; ``None`` (default): cropped when the
            root has cropped frames (the MEGC2019 convention), else detected (a raw-only copy loads its raw frames).
        casme2_annotation, samm_annotation: annotation files when not inside their roots.
        apex_policy, corrections: passed to the three loaders.
        strict: raise when a GT row has no loadable clip (default); else skip it and report.
        casme2_options, samm_options, smic_options: further options of each source loader
            (``frames_dir``, ``variant``, ``annotation``, ...; see :func:`merkit.data.registry.loader_options`);
            they override the arguments above.
    """

    name: ClassVar[str] = "megc2019_cde"
    published = PublishedCounts(
        442, 68, 'MEGC2019 guideline table and combined_3class_gt.csv (docs/datasets.md, "MEGC2019 composite (megc2019_cde)")'
    )

    def __init__(
        self,
        root: str | os.PathLike | None = None,
        *,
        casme2_root: str | os.PathLike | None = None,
        samm_root: str | os.PathLike | None = None,
        smic_root: str | os.PathLike | None = None,
        gt_csv: str | os.PathLike | None = None,
        casme2_variant: str | None = None,
        smic_variant: str | None = None,
        casme2_annotation: str | os.PathLike | None = None,
        samm_annotation: str | os.PathLike | None = None,
        apex_policy: str | ApexPolicy = "midpoint",
        corrections: str | os.PathLike | None = "default",
        strict: bool = True,
        casme2_options: Mapping[str, Any] | None = None,
        samm_options: Mapping[str, Any] | None = None,
        smic_options: Mapping[str, Any] | None = None,
    ) -> None:
        if root is not None and not Path(root).is_dir():
            raise DatasetNotFoundError(f"composite root {str(root)!r} does not exist; expected a folder holding CASME2/, SAMM/ and SMIC/.")
        base = Path(root) if root is not None else None
        common: dict[str, Any] = dict(apex_policy=apex_policy, corrections=corrections)
        self.gt_csv = gt_csv
        self.strict = strict
        roots = {"casme2": casme2_root or (base / "CASME2" if base else None), "samm": samm_root or (base / "SAMM" if base else None),
                 "smic_hs": smic_root or (base / "SMIC" if base else None)}
        options = {
            "casme2": {**common, "annotation": casme2_annotation, "variant": casme2_variant, **(casme2_options or {})},
            "samm": {**common, "annotation": samm_annotation, **(samm_options or {})},
            "smic_hs": {**common, "variant": smic_variant, **(smic_options or {})},
        }
        options["casme2"]["variant"] = _cropped_if_present("casme2", options["casme2"]["variant"], roots["casme2"], CASME2.frame_dirs["cropped"])
        options["smic_hs"]["variant"] = _cropped_if_present("smic_hs", options["smic_hs"]["variant"], roots["smic_hs"], ("SMIC_all_cropped/HS",))
        self._setup_problems: list[Problem] = []
        self.sources = {}
        for dataset, cls in (("casme2", CASME2), ("samm", SAMM), ("smic_hs", SMICHS)):
            try:
                self.sources[dataset] = cls(roots[dataset], **{**options[dataset], "strict": False})
            except (DatasetNotFoundError, AnnotationError) as exc:
                if not is_collecting():
                    raise
                self._setup_problems.append(Problem("error", str(roots[dataset]), f"[{dataset}] {exc}", type(exc)))
        if not self.sources:
            raise DatasetNotFoundError(f"none of the composite's sources could be opened: {[str(p) for p in self._setup_problems]!r}")
        self.root = base or Path(os.path.commonpath([str(s.root) for s in self.sources.values()]))
        self.report = LoadReport(self.name, str(self.root))

    def load(self) -> pd.DataFrame:
        """Load the three sources and select the GT's samples, in GT order, labelled by the GT.

        Raises:
            AnnotationError / DatasetNotFoundError: (strict) a GT row has no loadable
                clip; the message names the GT line and the source's own problem.
        """
        self.report = LoadReport(self.name, str(self.root))
        self.report.problems.extend(self._setup_problems)
        try:
            gt = read_megc_gt(self.gt_csv)
        except (DatasetNotFoundError, AnnotationError) as exc:
            if not is_collecting():
                raise
            self.report.add("error", str(self.gt_csv), str(exc), type(exc))
            return samples_to_table([])
        by_key: dict[tuple[str, str, str], Any] = {}
        for dataset, loader in self.sources.items():
            table = loader.load()
            self.report.corrections.extend(loader.report.corrections)
            for sample in table_to_samples(table):
                by_key[(dataset, sample.subject, sample.clip)] = sample
            for problem in loader.report.problems:
                # already logged by the source loader; a source error is only fatal for GT rows (below)
                self.report.problems.append(Problem("warning", problem.where, f"[{dataset}] {problem.message}", problem.kind))
        megc3 = get_label_set("megc3")
        samples = []
        for row in gt.itertuples(index=False):
            where = f"{'packaged MEGC2019 list' if self.gt_csv is None else self.gt_csv} line {row.line}"
            sample = by_key.get((row.dataset, row.subject, row.clip))
            if row.dataset not in self.sources:
                continue  # the source could not be opened: reported once above
            if sample is None:
                self.report.add(
                    "error", where,
                    f"{where}: {row.gt_dataset},{row.gt_subject},{row.gt_clip} has no loaded {row.dataset} sample "
                    f"{row.subject}/{row.clip}; expected it in {str(self.sources[row.dataset].root)!r} "
                    f"(see the {row.dataset} problems above, or `merkit datasets check --dataset {row.dataset}`).",
                    DatasetNotFoundError,
                )
                continue
            mapped = megc3.class_of(row.dataset, sample.emotion)
            if mapped != row.label:
                self.report.add(
                    "warning", where,
                    f"{where}: GT class {row.label!r} but {sample.key} emotion {sample.emotion!r} maps to {mapped!r} "
                    f"under megc3; the GT class is used.",
                )
            samples.append(replace(sample, label=row.label))
        errors = self.report.errors
        if self.strict and errors:
            listed = "\n".join(f"  - {p.message}" for p in errors[:20])
            raise errors[0].kind(f"{len(errors)} MEGC2019 ground-truth row(s) could not be resolved:\n{listed}")
        table = samples_to_table(samples)
        table.attrs["corrections"] = [o.describe() for o in self.report.corrections]
        table.attrs["gt_sha256"] = gt.attrs["sha256"]
        self.report.n_rows, self.report.n_samples = len(gt), len(table)
        self.report.n_subjects = gt.groupby(["dataset", "subject"]).ngroups
        return table


def check_gt_counts(gt: pd.DataFrame) -> dict[str, Any]:
    """Sample, subject and class counts of a GT list, overall and per dataset (for reports and tests)."""
    if not {"gt_dataset", "gt_subject", "label"} <= set(gt.columns):
        raise ProtocolError("expected a table from read_megc_gt().")
    return {
        "samples": len(gt),
        "subjects": gt.groupby(["gt_dataset", "gt_subject"]).ngroups,
        "classes": gt["label"].value_counts().reindex(MEGC_CLASSES, fill_value=0).to_dict(),
        "per_dataset": {
            d: {"samples": len(g), "subjects": g["gt_subject"].nunique(),
                "classes": g["label"].value_counts().reindex(MEGC_CLASSES, fill_value=0).to_dict()}
            for d, g in gt.groupby("gt_dataset")
        },
    }

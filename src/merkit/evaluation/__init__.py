"""Evaluation layer: metrics, protocols, run directories and the resumable fold runner."""

from merkit.evaluation.metrics import MetricReport, compute_metrics, confusion_matrix, per_group_reports, pooled_report
from merkit.evaluation.protocols import (
    LOSO,
    SPOTTING_PROTOCOLS,
    CompositeLOSO,
    CrossDataset,
    Fold,
    LeaveOneDatasetOut,
    Protocol,
    check_folds,
    create_protocol,
    inner_validation_split,
    list_protocols,
    protocol_kind,
)
from merkit.evaluation.rundir import RunDirectory
from merkit.evaluation.runner import FoldTask, InProcessExecutor, rescore_run, run_protocol, seed_everything

__all__ = [
    "LOSO",
    "CompositeLOSO",
    "CrossDataset",
    "Fold",
    "FoldTask",
    "InProcessExecutor",
    "LeaveOneDatasetOut",
    "MetricReport",
    "Protocol",
    "RunDirectory",
    "check_folds",
    "compute_metrics",
    "confusion_matrix",
    "create_protocol",
    "inner_validation_split",
    "list_protocols",
    "protocol_kind",
    "SPOTTING_PROTOCOLS",
    "per_group_reports",
    "pooled_report",
    "rescore_run",
    "run_protocol",
    "seed_everything",
]

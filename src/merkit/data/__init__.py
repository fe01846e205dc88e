"""Data layer: sample records, label sets, dataset loaders, synthetic data."""

from merkit.data.labels import LabelSet, get_label_set, list_label_sets
from merkit.data.sample import (
    KNOWN_FLAGS,
    SAMPLE_TABLE_SCHEMA,
    Sample,
    sample_key,
    samples_to_table,
    subject_key,
    table_to_samples,
    validate_sample_table,
)

__all__ = [
    "KNOWN_FLAGS",
    "SAMPLE_TABLE_SCHEMA",
    "LabelSet",
    "Sample",
    "get_label_set",
    "list_label_sets",
    "sample_key",
    "samples_to_table",
    "subject_key",
    "table_to_samples",
    "validate_sample_table",
]

"""Data layer: sample records, label sets, dataset loaders, synthetic data."""

from merkit.data.apex import ApexContext, get_apex_policy, list_apex_policies, register_apex_policy
from merkit.data.labels import LabelSet, get_label_set, list_label_sets
from merkit.data.registry import (
    create_dataset,
    list_datasets,
    load_dataset,
    load_dataset_spec,
    loader_options,
    register_dataset,
)
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

# The built-in loaders register themselves when imported (timm's models/__init__ habit): importing them here,
# in the package that owns the registries, fills the clip-dataset registry (merkit.data.registry) and the
# long-video one (merkit.data.longvideo) before either can be asked. Neither registry imports a loader.
from merkit.data import casme, casme2, casme3, composite, fourdme, long_datasets, mmew, samm, smic  # noqa: F401

__all__ = [
    "ApexContext",
    "create_dataset",
    "get_apex_policy",
    "list_apex_policies",
    "list_datasets",
    "load_dataset",
    "load_dataset_spec",
    "loader_options",
    "register_apex_policy",
    "register_dataset",
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

"""SynthME: a synthetic micro-expression benchmark written in the real datasets' on-disk formats.

``generate(out_dir, preset='small', seed=0)`` writes CASME II, SAMM and
SMIC-HS style trees, a MEGC2019-style composite ground truth, and a
``_groundtruth/`` folder with what real data lacks (dense onset-to-apex
displacement, per-frame landmarks, true apex, AUs). See ``docs/synthme.md``.
"""

from merkit.synth.actions import AU_BLOBS, CLASS_AU_COMBOS, dense_field, evaluate_blobs
from merkit.synth.clip import warp_by_flow
from merkit.synth.config import CameraConfig, SourceConfig, SynthConfig, get_preset, list_presets
from merkit.synth.generate import DATASET_DIRS, GENERATOR_VERSION, GROUNDTRUTH_DIR, SynthManifest, generate
from merkit.synth.truth import ClipMotion, SynthTruth

__all__ = [
    "AU_BLOBS",
    "CLASS_AU_COMBOS",
    "CameraConfig",
    "ClipMotion",
    "DATASET_DIRS",
    "GENERATOR_VERSION",
    "GROUNDTRUTH_DIR",
    "SourceConfig",
    "SynthConfig",
    "SynthManifest",
    "SynthTruth",
    "dense_field",
    "evaluate_blobs",
    "generate",
    "get_preset",
    "list_presets",
    "warp_by_flow",
]

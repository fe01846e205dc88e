"""SynthME: a synthetic micro-expression benchmark written in the real datasets' on-disk formats.

``generate(out_dir, preset='small', seed=0)`` writes CASME II, SAMM and
SMIC-HS style trees, a MEGC2019-style composite ground truth, and a
``_groundtruth/`` folder with what real data lacks (dense onset-to-apex
displacement, per-frame landmarks, true apex, AUs). Long videos for spotting come from
:func:`merkit.synth.longvideo.generate_long_videos` with a named preset (``get_long_preset``).
See ``docs/synthme.md``.
"""

from merkit.synth.actions import AU_BLOBS, CLASS_AU_COMBOS, dense_field, evaluate_blobs
from merkit.synth.clip import warp_by_flow
from merkit.synth.config import CameraConfig, SourceConfig, SynthConfig, get_preset, list_presets
from merkit.synth.generate import DATASET_DIRS, GENERATOR_VERSION, GROUNDTRUTH_DIR, SynthManifest, generate
from merkit.synth.long_config import LONG_PRESETS, LongVideoConfig, get_long_preset, list_long_presets
from merkit.synth.truth import ClipMotion, SynthTruth

__all__ = [
    "AU_BLOBS",
    "CLASS_AU_COMBOS",
    "CameraConfig",
    "ClipMotion",
    "DATASET_DIRS",
    "GENERATOR_VERSION",
    "GROUNDTRUTH_DIR",
    "LONG_PRESETS",
    "LongVideoConfig",
    "SourceConfig",
    "SynthConfig",
    "SynthManifest",
    "SynthTruth",
    "dense_field",
    "evaluate_blobs",
    "generate",
    "get_long_preset",
    "get_preset",
    "list_long_presets",
    "list_presets",
    "warp_by_flow",
]

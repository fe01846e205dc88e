"""Motion layer: optical flow, strain, key frames, descriptors, visualisation, feature preparation.

Importing this package registers the ``"motion_peak"`` apex policy for the loaders.
"""

from merkit.motion.descriptors import biwoof, hoof, lbp_top, tim_interpolate
from merkit.motion.flow import FlowMethod, compute_flow, create_flow, list_flow_methods, register_flow
from merkit.motion.keyframes import (
    MotionPeakApex,
    consecutive_pairs,
    estimate_apex_index,
    motion_curve,
    onset_apex_indices,
    uniform_indices,
)
from merkit.motion.strain import (
    flip_flow,
    flow_features,
    flow_magnitude,
    flow_orientation,
    normalize_channels,
    optical_strain,
    strain_components,
)

__all__ = [
    "FlowMethod",
    "MotionPeakApex",
    "biwoof",
    "compute_flow",
    "consecutive_pairs",
    "create_flow",
    "estimate_apex_index",
    "flip_flow",
    "flow_features",
    "flow_magnitude",
    "flow_orientation",
    "hoof",
    "lbp_top",
    "list_flow_methods",
    "motion_curve",
    "normalize_channels",
    "onset_apex_indices",
    "optical_strain",
    "register_flow",
    "strain_components",
    "tim_interpolate",
    "uniform_indices",
]

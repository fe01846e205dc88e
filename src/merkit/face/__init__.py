"""Face layer: detection, 68 landmarks, clip alignment, crops and masks.

Typical use::

    from merkit.face import align_clip
    clip = align_clip("CASME2_RAW_selected/sub01/EP02_01f", size=128, mode="eye_line")
    clip.frames.shape        # (T, 128, 128) uint8, one transform for all frames
    clip.landmarks.shape     # (68, 2) onset landmarks in crop pixels
    keep = clip.mer_mask()   # face without the eyes (papers 002/003)

See ``docs/face.md`` for the alignment modes and the options they expose.
"""

from merkit.face.align import ALIGN_MODES, AlignConfig, Alignment, compute_alignment, eye_line_angle, transform_points
from merkit.face.backends import (
    N_LANDMARKS,
    DlibBackend,
    FaceBox,
    LandmarkBackend,
    create_backend,
    list_backends,
    register_backend,
)
from merkit.face.batch import FaceItem, FaceItemResult, FaceSummary, extract_faces, find_face_items
from merkit.face.clip import AlignedClip, align_clip, align_sample
from merkit.face.detect import LANDMARK_GROUPS, FaceDetection, detect_face, eye_centres
from merkit.face.masks import apply_mask, eye_mask, face_mask, mer_mask
from merkit.face.overlay import draw_overlay, write_png
from merkit.face.track import FaceTrack, track_face

__all__ = [
    "ALIGN_MODES",
    "AlignConfig",
    "AlignedClip",
    "Alignment",
    "DlibBackend",
    "FaceBox",
    "FaceDetection",
    "FaceItem",
    "FaceItemResult",
    "FaceSummary",
    "FaceTrack",
    "LANDMARK_GROUPS",
    "LandmarkBackend",
    "N_LANDMARKS",
    "align_clip",
    "align_sample",
    "apply_mask",
    "compute_alignment",
    "create_backend",
    "detect_face",
    "draw_overlay",
    "extract_faces",
    "eye_centres",
    "eye_line_angle",
    "eye_mask",
    "face_mask",
    "find_face_items",
    "list_backends",
    "mer_mask",
    "register_backend",
    "track_face",
    "transform_points",
    "write_png",
]

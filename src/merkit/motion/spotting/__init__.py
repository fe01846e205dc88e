"""Micro- and macro-expression spotting in long face videos (``docs/spotting.md``).

Example:
    >>> from merkit.motion.spotting import SpotConfig, spot_video
    >>> result = spot_video("clip.mp4", SpotConfig(method="flow_roi"))  # doctest: +SKIP
    >>> [(i.onset, i.apex, i.offset, i.kind) for i in result.intervals]  # doctest: +SKIP
"""

from merkit.face.track import FaceTrack, track_face
from merkit.motion.spotting.intervals import EXTENTS, SpottedInterval, find_peaks, peak_intervals
from merkit.motion.spotting.scores import ROI_LANDMARKS, flow_roi_curve, lbp_difference_curve
from merkit.motion.spotting.spot import SPOT_METHODS, SpotConfig, SpotResult, WindowFrames, spot_frames, spot_video
from merkit.motion.spotting.stream import StreamingSpotter, spot_stream

__all__ = ["EXTENTS", "FaceTrack", "ROI_LANDMARKS", "SPOT_METHODS", "SpotConfig", "SpotResult", "SpottedInterval",
           "StreamingSpotter", "WindowFrames", "find_peaks", "flow_roi_curve", "lbp_difference_curve", "peak_intervals",
           "spot_frames", "spot_stream", "spot_video", "track_face"]

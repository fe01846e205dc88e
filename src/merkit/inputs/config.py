"""The ``[features]`` settings: how per-sample model inputs are computed."""

from __future__ import annotations

from dataclasses import dataclass

from merkit._options import choice, positive

__all__ = ["FeatureConfig"]


@dataclass(frozen=True)
class FeatureConfig:
    """How per-sample model inputs are computed (see :mod:`merkit.inputs.flow_maps`).

    Attributes:
        flow: registered flow method (``merkit.motion.flow``): ``"dis"`` (default, docs/motion.md),
            ``"tvl1"`` (the references), ``"tvl1_fast"``, ``"farneback"``.
        face_size: side of the aligned face crop the flow and descriptors are computed on, pixels.
        size: side of the square flow/strain maps fed to flow models (28 for STSTNet).
        rgb_size: side of the square apex image fed to RGB models.
        align: align faces with dlib landmarks before computing flow (False: use frames as they are).
        strain_scheme: derivative scheme of the optical strain.
        global_motion: global (head) motion taken out of the onset -> apex flow before the flow kinds
            are built (:mod:`merkit.motion.global_motion`; the references ran on per-frame registered
            crops, merkit aligns on the onset only): ``"affine"``, ``"median"``, ``"none"``, or
            ``"auto"`` (default): ``"affine"`` for Bi-WOOF, whose orientation histograms a moving
            head swamps, ``"none"`` for the min-max scaled CNN inputs, which are translation-invariant
            already (docs/training.md has the measurements). Strain is recomputed from the compensated flow.
        cache_dir: feature cache root ("" -> ``$MERKIT_CACHE_DIR`` or ``~/.cache/merkit``).
        workers: processes computing features (1: in this process).
    """

    flow: str = "dis"
    face_size: int = 128
    size: int = 28
    rgb_size: int = 112
    align: bool = True
    strain_scheme: str = "central"
    global_motion: str = "auto"
    cache_dir: str = ""
    workers: int = 1

    def __post_init__(self) -> None:
        positive("features.face_size", self.face_size)
        positive("features.workers", self.workers)
        positive("features.size", self.size)
        positive("features.rgb_size", self.rgb_size)
        choice("features.global_motion", self.global_motion, ("auto", "none", "median", "affine"))

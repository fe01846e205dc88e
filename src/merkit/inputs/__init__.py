"""Inputs: sample table rows -> model inputs keyed by sample key (no torch).

One preparer per input kind (:mod:`merkit.inputs.registry`), shared by training
(``Method.prepare``) and prediction (``LoadedModel.predict``):

==================================  =========================================  ==========================
kind                                preparer                                   settings
==================================  =========================================  ==========================
``flow_uv_strain``, ``flow_uv``,    :mod:`merkit.inputs.flow_maps`             :class:`FeatureConfig`
``flow_uv_strain_uniform{2,4}``,
``rgb_apex``, ``biwoof``, ``lbptop``
``gray_apex_masked``                :mod:`merkit.inputs.gray_apex`             ``GrayApexConfig``
``flow_image_then_masked_face``     :mod:`merkit.inputs.masked_face_flow`      ``MaskedFaceFlowConfig``
``gray_clip``                       :mod:`merkit.inputs.clips`                 ``MOLDataConfig``
==================================  =========================================  ==========================

:mod:`merkit.inputs.macro_images` reads the macro-expression image sets of transfer learning.
"""

from merkit.inputs import clips, flow_maps, gray_apex, masked_face_flow  # noqa: F401  (each registers its kinds)
from merkit.inputs.config import FeatureConfig
from merkit.inputs.feature_set import FeatureSet, Inputs
from merkit.inputs.registry import get_preparer, list_input_kinds, prepare_inputs, register_inputs

__all__ = ["FeatureConfig", "FeatureSet", "Inputs", "get_preparer", "list_input_kinds", "prepare_inputs",
           "register_inputs"]

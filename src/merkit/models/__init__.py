"""Models layer: the registry and one file per architecture family.

Importing this package registers every model; use :func:`create_model` and
:func:`list_models` rather than the classes directly.
"""

from merkit.models._registry import (
    INPUT_KINDS,
    ModelInfo,
    count_macs,
    create_model,
    list_models,
    model_class,
    model_defaults,
    model_info,
    register_model,
)
from merkit.models.mier_cvt import MiERCvT
from merkit.models.mobilevit_me import MobileViTME
from merkit.models.mol import MOL
from merkit.models.off_apexnet import OffApexNet
from merkit.models.resnet import ApexResNet
from merkit.models.shufflenet_me import ShuffleNetME
from merkit.models.ststnet import STSTNet

__all__ = [
    "INPUT_KINDS",
    "ApexResNet",
    "MiERCvT",
    "MobileViTME",
    "MOL",
    "ModelInfo",
    "OffApexNet",
    "STSTNet",
    "ShuffleNetME",
    "count_macs",
    "create_model",
    "list_models",
    "model_class",
    "model_defaults",
    "model_info",
    "register_model",
]

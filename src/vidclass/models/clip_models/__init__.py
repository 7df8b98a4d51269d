"""Clip models: networks trained end to end on decoded frames (the pixel seam).

``frame`` (a CNN fine-tuned on single frames, late fusion) and ``lrcn`` (CNN + temporal head
trained jointly), ``early_fusion``, ``3d`` (``arch``: inflated, c3d_small, torchvision's
video networks) and ``convlstm``; see :mod:`vidclass.models.clip_models.base` for the contract every model keeps.
"""

from vidclass.models.clip_models import convlstm as _convlstm  # noqa: F401  (registers ``convlstm``)
from vidclass.models.clip_models import early_fusion as _early_fusion  # noqa: F401  (registers ``early_fusion``)
from vidclass.models.clip_models import frame as _frame  # noqa: F401  (registers ``frame``)
from vidclass.models.clip_models import lrcn as _lrcn  # noqa: F401  (registers ``lrcn``)
from vidclass.models.clip_models import video3d as _video3d  # noqa: F401  (registers ``3d``)
from vidclass.models.clip_models.base import (
    FREEZE_ALL,
    ClipModel,
    ClipSpec,
    backbone_stages,
    clip_model_from_config,
    create_clip_model,
    get_clip_model_class,
    list_clip_models,
)

__all__ = [
    "FREEZE_ALL",
    "ClipModel",
    "ClipSpec",
    "backbone_stages",
    "clip_model_from_config",
    "create_clip_model",
    "get_clip_model_class",
    "list_clip_models",
]

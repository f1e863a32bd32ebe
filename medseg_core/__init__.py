"""MedSeg engine: segmentation, counting, metrics and training, with no Qt.

Typical use::

    import medseg_core
    model = medseg_core.load_model("nuclei")
    result = medseg_core.segment(image, model)
    print(result.count)
"""

from .errors import Cancelled, InputError, MedsegError, MedsegIOError, ModelFileError
from .model import ModelInfo, SegmentationModel, load_model_file
from .progress import Progress
from .registry import list_models
from .segment import Segmentation, load_model, segment, segment_iter

__version__ = "0.1.0"

__all__ = [
    "Cancelled",
    "InputError",
    "MedsegError",
    "MedsegIOError",
    "ModelFileError",
    "ModelInfo",
    "Progress",
    "Segmentation",
    "SegmentationModel",
    "list_models",
    "load_model",
    "load_model_file",
    "segment",
    "segment_iter",
    "__version__",
]

"""MedSeg engine: segmentation, counting, metrics and training, with no Qt.

Typical use::

    import medseg_core
    model = medseg_core.load_model("nuclei")
    result = medseg_core.segment(image, model)
    print(result.count)

The names that need torch are imported on first use, so that importing the
package (``medseg --help``, ``medseg --version``) stays fast.
"""

from __future__ import annotations

import importlib
import sys
import types

from .errors import Cancelled, InputError, MedsegError, MedsegIOError, ModelFileError
from .progress import Progress

__version__ = "0.1.0"

#: Public name -> submodule that defines it, imported on first use.
_LAZY = {
    "ModelInfo": "model",
    "SegmentationModel": "model",
    "load_model_file": "model",
    "list_models": "registry",
    "Segmentation": "segment",
    "load_model": "segment",
    "segment": "segment",
    "segment_iter": "segment",
}

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


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


class _Package(types.ModuleType):
    """The package module: ``medseg_core.segment`` is the function, never the submodule.

    Importing the submodule ``medseg_core.segment`` sets the package attribute
    of the same name to the module; this property keeps the public name
    pointing at the function however the imports happen.
    """

    @property
    def segment(self) -> object:
        return __getattr__("segment")

    @segment.setter
    def segment(self, value: object) -> None:
        """Ignore the import system binding the submodule (it stays in ``sys.modules``)."""


sys.modules[__name__].__class__ = _Package

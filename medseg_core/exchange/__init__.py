"""Model exchange: bioimage.io packages and the ONNX Runtime backend.

- :mod:`.bioimageio_export` writes a MedSeg model as a bioimage.io model
  package (spec 0.5), which Fiji (deepImageJ), QuPath, ilastik and
  ``bioimageio.core`` run.
- :mod:`.bioimageio_import` brings such a package, exported by MedSeg, back
  as a MedSeg model.
- :mod:`.onnx_backend` runs a model's network through ONNX Runtime.

Nothing here is imported by ``medseg_core`` itself: ``bioimageio.spec``,
``onnx`` and ``onnxruntime`` (the ``exchange`` extra) are only loaded when
one of these modules is used.
"""

from __future__ import annotations

from ..errors import MedsegError


class ExchangeError(MedsegError):
    """A model cannot be exported, a package cannot be imported, or a backend is unavailable."""


def require(module: str, purpose: str):
    """Import ``module`` or raise :class:`ExchangeError` naming the extra that provides it.

    Parameters
    ----------
    module : str
        Importable name (``"onnxruntime"``, ``"bioimageio.spec"``).
    purpose : str
        What it is needed for, for the message.
    """
    import importlib  # noqa: PLC0415

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ExchangeError(
            f"{purpose} needs the Python package '{module}' ({exc}); install it with: pip install 'medseg[exchange]'"
        ) from None

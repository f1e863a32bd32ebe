"""Where models live and how names resolve to files.

Shipped models are ``resources/models/<name>.safetensors`` (inside the wheel
at ``medseg_core/_resources``; in a source checkout at ``<repo>/resources``).
User models (fine-tuned ones) live in the user data folder,
``platformdirs.user_data_dir("medseg")/models``, which the environment
variable ``MEDSEG_HOME`` overrides (``$MEDSEG_HOME/models``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from .errors import ModelFileError
from .model import ModelInfo, read_info

MODEL_SUFFIX = ".safetensors"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,99}$")


def resources_dir() -> Path:
    """The folder of shipped resources (models, samples, icons)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_resources", here.parent / "resources"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("MedSeg resources folder not found; is the installation complete?")


def shipped_models_dir() -> Path:
    """Folder of the models that come with MedSeg."""
    return resources_dir() / "models"


def user_data_dir() -> Path:
    """Per-user MedSeg folder (models, recovery files)."""
    root = os.environ.get("MEDSEG_HOME")
    path = Path(root) if root else Path(platformdirs.user_data_dir("medseg", appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def user_models_dir() -> Path:
    """Folder where fine-tuned models are saved."""
    path = user_data_dir() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class ModelEntry:
    """A model found on disk."""

    name: str
    path: Path
    info: ModelInfo
    shipped: bool


def list_models() -> list[ModelEntry]:
    """All loadable models: shipped ones first, then user models by name.

    Files that are not valid model files are skipped.
    """
    entries = []
    for folder, shipped in ((shipped_models_dir(), True), (user_models_dir(), False)):
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob(f"*{MODEL_SUFFIX}")):
            try:
                info = read_info(path)
            except ModelFileError:
                continue
            entries.append(ModelEntry(name=path.stem, path=path, info=info, shipped=shipped))
    return entries


def resolve_model(name_or_path: str | os.PathLike) -> Path:
    """Turn a model name or path into a file path.

    Parameters
    ----------
    name_or_path : str or path-like
        An existing file path, or the name of a shipped or user model
        (user models win over shipped ones of the same name only when the
        name is not a shipped one, so shipped names stay stable).

    Raises
    ------
    ModelFileError
        Nothing matches; the message lists the available names.
    """
    path = Path(name_or_path)
    if path.suffix == MODEL_SUFFIX or path.exists():
        if path.is_file():
            return path
        raise ModelFileError(f"model file not found: {path}")
    name = str(name_or_path)
    for folder in (shipped_models_dir(), user_models_dir()):
        candidate = folder / f"{name}{MODEL_SUFFIX}"
        if candidate.is_file():
            return candidate
    available = ", ".join(entry.name for entry in list_models()) or "none"
    raise ModelFileError(f"no model named '{name}' (available: {available})")


def user_model_path(name: str) -> Path:
    """Path for a new user model called ``name``; checks the name is usable."""
    if not _NAME_RE.match(name) or name.strip() != name:
        raise ModelFileError(
            f"'{name}' is not a usable model name: use letters, digits, spaces, '.', '_' or '-'"
        )
    if (shipped_models_dir() / f"{name}{MODEL_SUFFIX}").exists():
        raise ModelFileError(f"'{name}' is the name of a shipped model; choose another")
    return user_models_dir() / f"{name}{MODEL_SUFFIX}"

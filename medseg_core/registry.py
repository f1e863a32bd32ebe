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
from typing import TYPE_CHECKING

import platformdirs

from .errors import ModelFileError

if TYPE_CHECKING:
    from .model import ModelInfo

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


@dataclass(frozen=True)
class UnreadableModel:
    """A ``.safetensors`` file in a model folder that cannot be read as a model.

    Attributes
    ----------
    path : Path
        The file.
    reason : str
        Why, in one line.
    shipped : bool
        Whether it is in the shipped models folder.
    """

    path: Path
    reason: str
    shipped: bool


def scan_models() -> tuple[list[ModelEntry], list[UnreadableModel]]:
    """Every model file of the shipped and user folders, readable or not.

    Returns
    -------
    entries : list of ModelEntry
        Loadable models: shipped ones first, then user models by name.
    unreadable : list of UnreadableModel
        Files that are not valid model files, with the reason; one bad
        file never hides the others.
    """
    from .model import read_info  # torch: only when models are listed

    entries, unreadable = [], []
    for folder, shipped in ((shipped_models_dir(), True), (user_models_dir(), False)):
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob(f"*{MODEL_SUFFIX}")):
            try:
                info = read_info(path)
            except (ModelFileError, OSError) as exc:
                reason = " ".join(str(exc).split()) or type(exc).__name__
                unreadable.append(UnreadableModel(path=path, reason=reason, shipped=shipped))
                continue
            entries.append(ModelEntry(name=path.stem, path=path, info=info, shipped=shipped))
    return entries, unreadable


def list_models() -> list[ModelEntry]:
    """All loadable models: shipped ones first, then user models by name.

    Files that are not valid model files are skipped (:func:`scan_models`
    lists them too).
    """
    return scan_models()[0]


def resolve_model(name_or_path: str | os.PathLike) -> Path:
    """Turn a model name or a model file path into a file path.

    A name is only ever looked up in the model folders; a path must end in
    ``.safetensors``. So a folder or file that happens to be called
    ``nuclei`` in the current folder never hides the model ``nuclei``.

    Parameters
    ----------
    name_or_path : str or path-like
        A path ending in ``.safetensors``, or the name of a shipped or user
        model (shipped models win over user models of the same name, so
        shipped names stay stable).

    Raises
    ------
    ModelFileError
        The file does not exist, the name is not a valid model name, or no
        model has that name (the message lists the available names).
    """
    text = os.fspath(name_or_path)
    if text.lower().endswith(MODEL_SUFFIX):
        path = Path(text).expanduser()
        if path.is_file():
            return path
        what = "is a folder, not a model file" if path.is_dir() else "does not exist"
        raise ModelFileError(f"model file {path} {what}")
    if "/" in text or "\\" in text:
        raise ModelFileError(f"'{text}' is not a model name, and a model file path must end in {MODEL_SUFFIX}")
    check_model_name(text)
    for folder in (shipped_models_dir(), user_models_dir()):
        candidate = folder / f"{text}{MODEL_SUFFIX}"
        if candidate.is_file():
            return candidate
    available = ", ".join(entry.name for entry in list_models()) or "none"
    hint = f"; '{text}' here is not a model file (those end in {MODEL_SUFFIX})" if Path(text).exists() else ""
    raise ModelFileError(f"no model named '{text}' (available: {available}){hint}")


def check_model_name(name: str) -> None:
    """Refuse names that cannot be model names (and so file names).

    Raises
    ------
    ModelFileError
        ``name`` is empty, too long, has other characters than letters,
        digits, spaces, ``.``, ``_`` and ``-``, or starts or ends with a space.
    """
    if not _NAME_RE.match(name) or name.strip() != name:
        raise ModelFileError(
            f"'{name}' is not a usable model name: use letters, digits, spaces, '.', '_' or '-'"
        )


def user_model_path(name: str) -> Path:
    """Path for a new user model called ``name``; checks the name is usable."""
    check_model_name(name)
    if (shipped_models_dir() / f"{name}{MODEL_SUFFIX}").exists():
        raise ModelFileError(f"'{name}' is the name of a shipped model; choose another")
    return user_models_dir() / f"{name}{MODEL_SUFFIX}"

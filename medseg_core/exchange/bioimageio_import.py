"""Import a bioimage.io package that MedSeg exported, as a user model.

MedSeg reads back only its own packages: their ``rdf.yaml`` has a
``config.medseg`` block and the package carries the MedSeg model file
(``NAME.safetensors``, listed with its SHA-256 among the attachments). That
file is checked like any model file (:func:`~medseg_core.model.load_model_file`:
schema, tensor shapes, finite weights; nothing is unpickled) and saved in the
user model folder, so the imported model predicts exactly as the exported
one. Anything else (not a zip, a corrupt zip, another tool's package, a
package from a newer MedSeg) is refused with one line.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from ..errors import ModelFileError
from ..model import load_model_file
from ..registry import MODEL_SUFFIX, user_model_path
from . import ExchangeError, require
from .bioimageio_export import PACKAGE_FORMAT

RDF_NAMES = ("rdf.yaml", "bioimageio.yaml")
#: Largest rdf.yaml read (bytes).
MAX_RDF_BYTES = 2**20
#: ``config`` keys that name the tool that made a package, for the refusal message.
OTHER_TOOLS = {"deepimagej": "deepImageJ", "stardist": "StarDist", "ilastik": "ilastik", "qupath": "QuPath",
               "cellpose": "Cellpose", "careamics": "CAREamics", "n2v": "Noise2Void"}


def import_bioimageio(path: str | os.PathLike, name: str | None = None) -> Path:
    """Import a MedSeg-exported bioimage.io package as a user model.

    Parameters
    ----------
    path : path-like
        The package (``.zip``).
    name : str, optional
        Name of the imported model (default: the exported model's name).

    Returns
    -------
    Path
        The new model file in the user model folder.

    Raises
    ------
    ExchangeError
        Not a zip, corrupt, not a bioimage.io model, not exported by MedSeg,
        or its model file does not match its checksum; one line.
    ModelFileError
        The name is unusable or taken (a shipped model's or an existing
        user model's), or the model file inside fails MedSeg's checks.
    """
    path = Path(path)
    rdf, archive_names = read_package_description(path)
    medseg = medseg_config(rdf, path)
    model_file = str(medseg.get("model_file", ""))
    if not model_file.endswith(MODEL_SUFFIX) or model_file not in archive_names or "/" in model_file:
        raise ExchangeError(f"{path.name}: its MedSeg model file '{model_file[:80]}' is missing from the package")
    expected = _attachment_sha256(rdf, model_file)
    with tempfile.TemporaryDirectory(prefix="medseg-import-") as tmp:
        extracted = Path(tmp) / model_file
        try:
            with zipfile.ZipFile(path) as archive, archive.open(model_file) as src, open(extracted, "wb") as dst:
                shutil.copyfileobj(src, dst)
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise ExchangeError(f"{path.name} is corrupt: {model_file} cannot be read ({exc})") from None
        if expected and _sha256(extracted) != expected.lower():
            raise ExchangeError(f"{path.name} is corrupt: {model_file} does not match its SHA-256 in rdf.yaml")
        model = load_model_file(extracted)
        target_name = name if name is not None else model.info.name
        try:
            target = user_model_path(target_name)
        except ModelFileError as exc:
            raise ModelFileError(f"{exc} (--name)") from None
        if target.exists():
            raise ModelFileError(f"a user model named '{target_name}' exists already; give another name (--name)")
        if target_name == model.info.name:
            shutil.copyfile(extracted, target)
        else:
            model.info.name = target_name
            model.save(target)
    return target


def read_package_description(path: Path) -> tuple[dict, set[str]]:
    """The parsed ``rdf.yaml`` (or ``bioimageio.yaml``) of a package and the names of its files.

    Raises
    ------
    ExchangeError
        Missing, not a zip, a corrupt zip, no description file, or one that
        is not a YAML mapping.
    """
    yaml = require("yaml", "importing a bioimage.io package")
    if not path.is_file():
        raise ExchangeError(f"package {path} {'is a folder' if path.is_dir() else 'does not exist'}")
    if not zipfile.is_zipfile(path):
        raise ExchangeError(f"{path.name} is not a zip file; a bioimage.io package is a .zip")
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
            if bad is not None:
                raise ExchangeError(f"{path.name} is corrupt: {bad} fails its CRC check")
            names = set(archive.namelist())
            rdf_name = next((n for n in RDF_NAMES if n in names), None)
            if rdf_name is None:
                raise ExchangeError(f"{path.name} is not a bioimage.io package: it has no rdf.yaml or bioimageio.yaml")
            if archive.getinfo(rdf_name).file_size > MAX_RDF_BYTES:
                raise ExchangeError(f"{path.name}: its {rdf_name} is larger than {MAX_RDF_BYTES:,} bytes")
            text = archive.read(rdf_name).decode("utf-8")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, UnicodeDecodeError, ValueError) as exc:
        raise ExchangeError(f"{path.name} is corrupt ({' '.join(str(exc).split())[:200]})") from None
    try:
        rdf = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ExchangeError(f"{path.name}: its {rdf_name} is not valid YAML ({' '.join(str(exc).split())[:160]})") from None
    if not isinstance(rdf, dict):
        raise ExchangeError(f"{path.name}: its {rdf_name} is not a bioimage.io description")
    return rdf, names


def medseg_config(rdf: dict, path: Path) -> dict:
    """The ``config.medseg`` block of a MedSeg package; refuse other packages in one line."""
    if rdf.get("type") != "model":
        raise ExchangeError(f"{path.name} is a bioimage.io {str(rdf.get('type', 'resource'))[:40]}, not a model")
    config = rdf.get("config") if isinstance(rdf.get("config"), dict) else {}
    medseg = config.get("medseg")
    if not isinstance(medseg, dict):
        tools = [label for key, label in OTHER_TOOLS.items() if key in config]
        made_by = f" (it is a {tools[0]} package)" if tools else ""
        raise ExchangeError(
            f"{path.name} was not exported by MedSeg{made_by}: MedSeg imports only models it exported "
            "(their rdf.yaml has config.medseg)"
        )
    version = medseg.get("package_format")
    if not isinstance(version, int) or version > PACKAGE_FORMAT:
        raise ExchangeError(
            f"{path.name} was exported by a newer MedSeg (package format {str(version)[:20]}; "
            f"this one reads {PACKAGE_FORMAT})"
        )
    return medseg


def _attachment_sha256(rdf: dict, file_name: str) -> str | None:
    for item in rdf.get("attachments") or []:
        if isinstance(item, dict) and str(item.get("source", "")) == file_name:
            sha = item.get("sha256")
            return str(sha) if sha else None
    return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()

"""What the app remembers between runs: window geometry, last model, device, backend and brush size.

Kept as JSON in ``settings.json`` of the user config folder
(``platformdirs.user_config_dir("medseg")``, e.g. ``~/.config/medseg`` on
Linux), which the environment variable ``MEDSEG_CONFIG_DIR`` overrides.
This module holds plain data and files only (no Qt); the main window
applies the values at start and collects them when the user closes it.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import platformdirs

from medseg_core.atomic import atomic_write_text

_log = logging.getLogger(__name__)

#: Environment variable that moves the config folder (tests, the self-test, portable installs).
CONFIG_ENV = "MEDSEG_CONFIG_DIR"
#: Devices the Segment panel offers; anything else read from the file becomes "auto".
DEVICES = ("auto", "cpu", "cuda", "mps")
#: Inference backends the Segment panel offers (:mod:`medseg_core.exchange.onnx_backend`).
BACKENDS = ("auto", "torch", "onnx")
#: Brush sizes the Correct panel accepts.
BRUSH_RANGE = (1, 200)


def config_dir() -> Path:
    """The folder of ``settings.json`` (``$MEDSEG_CONFIG_DIR`` when set); not created here."""
    root = os.environ.get(CONFIG_ENV)
    return Path(root) if root else Path(platformdirs.user_config_dir("medseg", appauthor=False))


def settings_path() -> Path:
    """Path of the settings file."""
    return config_dir() / "settings.json"


@dataclass
class AppSettings:
    """The remembered values; the defaults are those of a first start.

    Attributes
    ----------
    geometry : str
        The main window's geometry as Qt saves it (``QWidget.saveGeometry``),
        base64-encoded; "" to size the window to the screen.
    model : str
        Path of the last chosen model; "" for the default model.
    device : str
        Device of the Segment panel, one of :data:`DEVICES`.
    backend : str
        Inference backend of the Segment panel, one of :data:`BACKENDS`.
    brush_size : int
        Brush diameter of the Correct panel in pixels.
    """

    geometry: str = ""
    model: str = ""
    device: str = "auto"
    backend: str = "auto"
    brush_size: int = 10

    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> AppSettings:
        """Read the settings; a missing, unreadable or malformed file gives the defaults.

        Values of the wrong type or out of range are replaced by their
        default one by one, so one bad entry does not lose the others.
        """
        path = Path(path) if path is not None else settings_path()
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as exc:
            _log.warning("ignoring the settings file %s: %s", path, exc)
            return cls()
        if not isinstance(raw, dict):
            _log.warning("ignoring the settings file %s: not a JSON object", path)
            return cls()
        settings = cls()
        for field in fields(cls):
            value = raw.get(field.name)
            if isinstance(value, type(getattr(settings, field.name))) and not isinstance(value, bool):
                setattr(settings, field.name, value)
        if settings.device not in DEVICES:
            settings.device = "auto"
        if settings.backend not in BACKENDS:
            settings.backend = "auto"
        if not BRUSH_RANGE[0] <= settings.brush_size <= BRUSH_RANGE[1]:
            settings.brush_size = cls.brush_size
        return settings

    def save(self, path: str | os.PathLike | None = None) -> bool:
        """Write the settings atomically; False (and a logged warning) when that fails.

        A settings file that cannot be written must not stop the app from
        closing, so errors are logged, not raised.
        """
        path = Path(path) if path is not None else settings_path()
        try:
            atomic_write_text(path, json.dumps(asdict(self), indent=2) + "\n")
        except OSError as exc:
            _log.warning("cannot save the settings to %s: %s", path, exc)
            return False
        return True

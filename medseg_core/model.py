"""Model files: safetensors weights plus JSON metadata.

A MedSeg model file is a single ``.safetensors`` file. Its tensors are the
U-Net weights; its header metadata holds one key, ``"medseg"``, whose value
is the JSON form of :class:`ModelInfo` (architecture, input normalisation,
class names, task, training data, metrics, parent model). Loading never
unpickles anything, and a file whose tensors do not match its declared
architecture is refused.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from .atomic import atomic_path
from .errors import ModelFileError
from .unet import UNet, UNetConfig, fuse_batchnorm

FORMAT_VERSION = 1
TASKS = ("semantic", "instance")
METADATA_KEY = "medseg"


@dataclass
class ModelInfo:
    """Everything about a model except its weights.

    Parameters
    ----------
    name : str
        Short name shown in pickers (``"nuclei"``).
    task : str
        ``"instance"``: the network predicts a foreground logit and a
        normalised distance map (2 channels), post-processed into one label
        per object. ``"semantic"``: one logit per class, labels are class
        indices.
    classes : list of str
        Class names, background first.
    architecture : dict
        :class:`~medseg_core.unet.UNetConfig` as a dict.
    normalization : dict
        Input normalisation: ``{"method": "percentile", "low": 1.0,
        "high": 99.8}`` maps those percentiles of each channel to 0 and 1.
    input_scale : float
        The image is resized by this factor before the network, and the
        output back to the image size (``0.5`` for models trained on
        half-resolution images).
    postprocess : dict
        Default post-processing options (``threshold``, ``min_size``...).
    description : str
        One paragraph for the model picker's tooltip.
    training : dict
        Data, split, epochs, time, hardware.
    metrics : dict
        Validation metrics measured after training.
    parent : str or None
        Name of the model it was fine-tuned from.
    created : str
        ISO 8601 time of saving.
    format_version : int
        Version of this file layout.
    """

    name: str
    task: str
    classes: list[str]
    architecture: dict
    normalization: dict = field(
        default_factory=lambda: {"method": "percentile", "low": 1.0, "high": 99.8}
    )
    input_scale: float = 1.0
    postprocess: dict = field(default_factory=dict)
    description: str = ""
    training: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    parent: str | None = None
    created: str = ""
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ModelFileError(f"model task must be one of {TASKS}, got {self.task!r}")
        config = self.config
        expected = 2 if self.task == "instance" else len(self.classes)
        if config.out_channels != expected:
            raise ModelFileError(
                f"model '{self.name}': a {self.task} model with {len(self.classes)} classes "
                f"needs {expected} output channels, the architecture has {config.out_channels}"
            )

    @property
    def config(self) -> UNetConfig:
        """The architecture as a :class:`UNetConfig`."""
        try:
            return UNetConfig.from_dict(self.architecture)
        except (TypeError, ValueError) as exc:
            raise ModelFileError(f"model '{self.name}': bad architecture: {exc}") from None

    @property
    def in_channels(self) -> int:
        """Channels the network expects."""
        return self.config.in_channels

    def to_json(self) -> str:
        """Serialise to JSON."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ModelInfo":
        """Parse the JSON written by :meth:`to_json`."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelFileError(f"model metadata is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ModelFileError("model metadata must be a JSON object")
        known = set(cls.__dataclass_fields__)
        missing = {"name", "task", "classes", "architecture"} - set(data)
        if missing:
            raise ModelFileError(f"model metadata lacks {sorted(missing)}")
        version = data.get("format_version", FORMAT_VERSION)
        if version > FORMAT_VERSION:
            raise ModelFileError(
                f"model file format {version} is newer than this MedSeg understands "
                f"({FORMAT_VERSION}); update MedSeg"
            )
        return cls(**{k: v for k, v in data.items() if k in known})

    def summary(self) -> str:
        """A few lines for tooltips and ``medseg models``."""
        lines = [f"{self.name} ({self.task}, classes: {', '.join(self.classes)})"]
        if self.description:
            lines.append(self.description)
        if self.parent:
            lines.append(f"fine-tuned from: {self.parent}")
        for key, value in self.metrics.items():
            if isinstance(value, (int, float)):
                lines.append(f"{key}: {value:.3f}")
        return "\n".join(lines)


@dataclass
class SegmentationModel:
    """A U-Net with its metadata, ready for inference or training.

    Parameters
    ----------
    info : ModelInfo
        Metadata.
    net : UNet
        The network (on ``device``).
    source : Path or None
        File it was loaded from.
    """

    info: ModelInfo
    net: UNet
    source: Path | None = None
    _inference: tuple[tuple, UNet] | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def create(cls, info: ModelInfo, *, pretrained: bool = False) -> "SegmentationModel":
        """A new model for ``info``.

        Parameters
        ----------
        info : ModelInfo
            Metadata and architecture.
        pretrained : bool
            Start the encoder from its shipped ImageNet weights (see
            :mod:`medseg_core.pretrained`); otherwise all weights are random.
        """
        net = UNet(info.config)
        if pretrained:
            from .pretrained import init_encoder  # noqa: PLC0415 (pretrained imports this module)

            init_encoder(net)
        return cls(info=info, net=net)

    @property
    def device(self) -> torch.device:
        """Device holding the weights."""
        return next(self.net.parameters()).device

    def to(self, device: str | torch.device) -> "SegmentationModel":
        """Move the weights; returns ``self``."""
        self.net.to(device)
        return self

    def inference_net(self) -> UNet:
        """The network with batch norms folded into the convolutions, for prediction.

        Built on first use and rebuilt whenever a weight of ``net`` changes
        (training, loading, moving to another device).
        """
        key = tuple((t.data_ptr(), t._version, t.device) for t in self.net.state_dict().values())
        if self._inference is None or self._inference[0] != key:
            self._inference = (key, fuse_batchnorm(self.net))
        return self._inference[1]

    def copy(self) -> "SegmentationModel":
        """An independent copy (weights cloned), e.g. to fine-tune."""
        net = UNet(self.info.config)
        net.load_state_dict(self.net.state_dict())
        info = ModelInfo.from_json(self.info.to_json())
        return SegmentationModel(info=info, net=net.to(self.device), source=None)

    def save(self, path: str | os.PathLike, *, half: bool = False) -> Path:
        """Write the model atomically (temporary file, then rename).

        Parameters
        ----------
        path : path-like
            Target file (``.safetensors``).
        half : bool
            Store floating-point weights as float16 (half the size; they are
            loaded back as float32). Used for the shipped models.

        Returns
        -------
        Path
            The written file.
        """
        info = replace(self.info, created=datetime.now(timezone.utc).isoformat(timespec="seconds"))
        tensors = {}
        for key, value in self.net.state_dict().items():
            value = value.detach().contiguous().cpu()
            tensors[key] = value.half() if half and value.is_floating_point() else value
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp), metadata={METADATA_KEY: info.to_json()})
        self.info = info
        return Path(path)


def read_info(path: str | os.PathLike) -> ModelInfo:
    """Read only the metadata of a model file (fast: no weights loaded)."""
    path = Path(path)
    with open_safetensors(path) as handle:
        return _info_from(handle, path)


def load_model_file(path: str | os.PathLike, device: str | torch.device = "cpu") -> SegmentationModel:
    """Load a model file.

    Parameters
    ----------
    path : path-like
        A ``.safetensors`` file written by :meth:`SegmentationModel.save`.
    device : str or torch.device
        Where to put the weights.

    Raises
    ------
    ModelFileError
        The file is missing, not a safetensors file, has no MedSeg metadata,
        or its tensors do not match the declared architecture.
    """
    path = Path(path)
    with open_safetensors(path) as handle:
        info = _info_from(handle, path)
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    tensors = _current_keys(tensors)
    net = UNet(info.config)
    expected = net.state_dict()
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    wrong = sorted(k for k in expected if k in tensors and tensors[k].shape != expected[k].shape)
    if missing or extra or wrong:
        detail = "; ".join(
            f"{what}: {', '.join(keys[:3])}{'...' if len(keys) > 3 else ''}"
            for what, keys in (("missing", missing), ("unexpected", extra), ("wrong shape", wrong))
            if keys
        )
        raise ModelFileError(f"{path.name}: weights do not match the metadata ({detail})")
    net.load_state_dict(tensors)
    net.eval()
    return SegmentationModel(info=info, net=net.to(device), source=path)


def _current_keys(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Tensor names of files written before the encoder became a submodule (``stem.*`` -> ``backbone.stem.*``)."""
    legacy = ("stem.", "down.")
    return {f"backbone.{k}" if k.startswith(legacy) else k: v for k, v in tensors.items()}


class open_safetensors:
    """Context manager around ``safe_open`` that turns failures into ModelFileError."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> Any:
        if not self.path.is_file():
            raise ModelFileError(f"model file not found: {self.path}")
        try:
            self.ctx = safe_open(str(self.path), framework="pt", device="cpu")
            return self.ctx.__enter__()
        except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
            raise ModelFileError(f"{self.path.name} is not a readable model file ({exc})") from None

    def __exit__(self, *exc: object) -> None:
        self.ctx.__exit__(*exc)


def _info_from(handle: Any, path: Path) -> ModelInfo:
    metadata = handle.metadata() or {}
    if METADATA_KEY not in metadata:
        raise ModelFileError(f"{path.name} has no MedSeg metadata; is it a MedSeg model?")
    return ModelInfo.from_json(metadata[METADATA_KEY])

"""Model files: safetensors weights plus JSON metadata.

A MedSeg model file is a single ``.safetensors`` file. Its tensors are the
U-Net weights; its header metadata holds one key, ``"medseg"``, whose value
is the JSON form of :class:`ModelInfo` (architecture, input normalisation,
class names, task, training data, metrics, parent model). Loading never
unpickles anything.

A file from elsewhere is checked before it can cost memory or time: the
header's size, then the metadata against its schema
(:mod:`medseg_core.model_schema`), then the names, shapes and types of the
tensors listed in the header against those of the declared architecture
(built on PyTorch's ``meta`` device, which allocates nothing), and only
then are the weights read, and refused if any is NaN or infinite. Every
refusal is one :class:`~medseg_core.errors.ModelFileError` line.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from .atomic import atomic_path
from .errors import ModelFileError
from .model_schema import FORMAT_VERSION, TASKS, parse_metadata
from .unet import UNet, UNetConfig, fuse_batchnorm

METADATA_KEY = "medseg"
#: Largest safetensors header read (bytes); the shipped models' headers are about 11 kB.
MAX_HEADER_BYTES = 4 * 2**20
#: safetensors dtype names accepted for floating-point and for integer tensors.
_FLOAT_DTYPES = frozenset({"F16", "BF16", "F32", "F64"})
_INT_DTYPES = frozenset({"I8", "I16", "I32", "I64", "U8", "U16", "U32", "U64"})

_T = TypeVar("_T")


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
    encloses : str or None
        Semantic models whose class draws boundaries around objects (EM
        membranes around cells): that class. The regions it encloses are
        then the objects counted (:mod:`medseg_core.semantic_summary`).
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
    encloses: str | None = None
    created: str = ""
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ModelFileError(f"model task must be one of {TASKS}, got {self.task!r}")
        if self.encloses is not None and (self.task != "semantic" or self.encloses not in self.classes[1:]):
            raise ModelFileError(
                f"model '{self.name}': encloses must name one of the classes {self.classes[1:]} of a semantic model"
            )
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
        """Parse the JSON written by :meth:`to_json`.

        Raises
        ------
        ModelFileError
            Not JSON, or a field of the wrong type or out of range (see
            :mod:`medseg_core.model_schema`).
        """
        data = parse_metadata(text)
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

    def summary(self) -> str:
        """A few lines for tooltips."""
        lines = [f"{self.name} ({self.task}, classes: {', '.join(self.classes)})"]
        if self.description:
            lines.append(self.description)
        lines += self.provenance()
        for key, value in self.metrics.items():
            if isinstance(value, (int, float)):
                lines.append(f"{key}: {value:.3f}")
        return "\n".join(lines)

    @property
    def use_restriction(self) -> str:
        """``"non-commercial, research use only"`` or ``"research use only"`` when the training data limits use, else ``""``."""
        text = f"{self.description} {self.training.get('data_licence', '')}".lower()
        if "non-commercial" in text:
            return "non-commercial, research use only"
        if "research use only" in text:
            return "research use only"
        return ""

    def provenance(self) -> list[str]:
        """Where the model comes from: encoder and its weights, parent, data, licence, training time and hardware."""
        lines = []
        encoder = self.architecture.get("encoder", "plain")
        if encoder == "plain":
            lines.append("encoder: plain U-Net (trained from random weights)")
        else:
            from .pretrained import describe_encoder  # noqa: PLC0415 (pretrained imports this module)

            lines.append(f"encoder: {describe_encoder(encoder)}")
        if self.parent:
            lines.append(f"fine-tuned from: {self.parent}")
        t = self.training
        if t.get("data"):
            data = f"data: {t['data']}" + (f"; split {t['split']}" if t.get("split") else "")
            lines.append(data + (f"; licence: {t['data_licence']}" if t.get("data_licence") else ""))
        if t.get("minutes") is not None and t.get("device"):
            lines.append(f"trained: {t['minutes']} min, {t.get('steps', '?')} steps on {t['device']}")
        return lines


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
    """Read only the metadata of a model file (fast: no weights loaded).

    Raises
    ------
    ModelFileError
        The file is missing, not a safetensors file, or its metadata is
        missing or breaks the schema; never any other exception.
    """
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
        The file is missing, not a safetensors file, has no MedSeg metadata
        or metadata that breaks the schema, its tensors do not match the
        declared architecture (checked from the header, before any weight is
        read or any network built), or a weight is NaN or infinite.
    """
    path = Path(path)
    with open_safetensors(path) as handle:
        info = _info_from(handle, path)
        names = _current_keys({key: key for key in handle.keys()})
        _check_tensor_headers(handle, names, expected_tensors(info.config), path)
        tensors = {name: _read_finite(handle, key, name, path) for name, key in names.items()}
    net = UNet(info.config)
    net.load_state_dict(tensors)
    net.eval()
    return SegmentationModel(info=info, net=net.to(device), source=path)


def expected_tensors(config: UNetConfig) -> dict[str, torch.Tensor]:
    """The state dict of a :class:`UNet` for ``config`` as ``meta`` tensors: names, shapes, dtypes, no memory."""
    with torch.device("meta"):
        return UNet(config).state_dict()


def _check_tensor_headers(handle: Any, names: dict[str, str], expected: dict[str, torch.Tensor], path: Path) -> None:
    """Compare the header's tensor names, shapes and dtypes with ``expected``, reading no tensor.

    ``names`` maps each current tensor name to its key in the file.
    """
    missing = sorted(set(expected) - set(names))
    extra = sorted(set(names) - set(expected))
    wrong = []
    for name in sorted(set(expected) & set(names)):
        piece = handle.get_slice(names[name])
        dtypes = _FLOAT_DTYPES if expected[name].is_floating_point() else _INT_DTYPES
        if list(piece.get_shape()) != list(expected[name].shape) or piece.get_dtype() not in dtypes:
            wrong.append(name)
    if missing or extra or wrong:
        detail = "; ".join(
            f"{what}: {', '.join(key[:60] for key in keys[:3])}{'...' if len(keys) > 3 else ''}"
            for what, keys in (("missing", missing), ("unexpected", extra), ("wrong shape or type", wrong))
            if keys
        )
        raise ModelFileError(f"{path.name}: weights do not match the metadata ({detail})")


def _read_finite(handle: Any, key: str, name: str, path: Path) -> torch.Tensor:
    """Read one tensor; refuse NaN and infinite values."""
    try:
        tensor = handle.get_tensor(key)
    except (SafetensorError, RuntimeError, ValueError) as exc:
        raise ModelFileError(f"{path.name}: weight {name[:60]} cannot be read ({str(exc)[:200]})") from exc
    if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
        raise ModelFileError(f"{path.name}: weight {name[:60]} holds NaN or infinite values")
    return tensor


def _current_keys(tensors: dict[str, _T]) -> dict[str, _T]:
    """Tensor names of files written before the encoder became a submodule (``stem.*`` -> ``backbone.stem.*``)."""
    legacy = ("stem.", "down.")
    return {f"backbone.{k}" if k.startswith(legacy) else k: v for k, v in tensors.items()}


class open_safetensors:
    """Context manager around ``safe_open`` that turns failures into ModelFileError.

    The header's declared size is checked first (at most
    :data:`MAX_HEADER_BYTES`), so a hostile header is not parsed.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> Any:
        if not self.path.is_file():
            raise ModelFileError(f"model file not found: {self.path}")
        try:
            _check_header_size(self.path)
            self.ctx = safe_open(str(self.path), framework="pt", device="cpu")
            return self.ctx.__enter__()
        except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
            raise ModelFileError(f"{self.path.name} is not a readable model file ({str(exc)[:200]})") from exc

    def __exit__(self, *exc: object) -> None:
        self.ctx.__exit__(*exc)


def _check_header_size(path: Path) -> None:
    """Refuse a file too short for a safetensors header, or whose header is over :data:`MAX_HEADER_BYTES`."""
    with open(path, "rb") as fh:
        head = fh.read(8)
    if len(head) < 8:
        raise ValueError(f"{len(head)} bytes, too short for a safetensors header")
    size = int.from_bytes(head, "little")
    if size > MAX_HEADER_BYTES:
        raise ValueError(f"its header claims {size:,} bytes, more than the {MAX_HEADER_BYTES:,} read")


def _info_from(handle: Any, path: Path) -> ModelInfo:
    metadata = handle.metadata() or {}
    if METADATA_KEY not in metadata:
        raise ModelFileError(f"{path.name} has no MedSeg metadata; is it a MedSeg model?")
    try:
        return ModelInfo.from_json(metadata[METADATA_KEY])
    except ModelFileError as exc:
        raise ModelFileError(f"{path.name}: {exc}") from exc

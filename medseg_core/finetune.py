"""Starting points for training: a shipped/user model to fine-tune, or a new one."""

from __future__ import annotations

from dataclasses import replace

from .errors import InputError
from .model import ModelInfo, SegmentationModel
from .segment import load_model
from .unet import UNetConfig


def build_start_model(
    base: str | None,
    task: str | None = None,
    classes: str | None = None,
    channels: int = 1,
    *,
    name: str,
) -> SegmentationModel:
    """The model training starts from.

    Parameters
    ----------
    base : str or None
        Model to fine-tune (name or path). Its weights, architecture and
        normalisation are kept; the result records it as ``parent``.
    task, classes, channels : optional
        For a new model (``base`` None): ``"instance"`` or ``"semantic"``,
        comma-separated class names (background first), input channels.
    name : str
        Name of the resulting model.
    """
    if base:
        model = load_model(base, device="cpu")
        model.info = replace(
            model.info,
            name=name,
            parent=model.info.name,
            metrics={},
            training={"parent_training": model.info.training.get("data", "")},
        )
        return model
    if task is None:
        raise InputError("give --from MODEL to fine-tune, or --task (and --classes) for a new model")
    names = [c.strip() for c in (classes or "background,object").split(",") if c.strip()]
    if len(names) < 2:
        raise InputError("a model needs at least two classes (background first)")
    out = 2 if task == "instance" else len(names)
    config = UNetConfig(in_channels=channels, out_channels=out, depth=4, width=16, stem_stride=2)
    return SegmentationModel.create(ModelInfo(name=name, task=task, classes=names, architecture=config.to_dict()))

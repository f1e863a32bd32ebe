"""Shared fixtures: an isolated user folder and small real models and images."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from skimage.draw import disk

from medseg_core.model import ModelInfo, SegmentationModel
from medseg_core.unet import UNetConfig


@pytest.fixture(autouse=True)
def medseg_home(tmp_path_factory, monkeypatch):
    """Every test gets its own empty MedSeg user folder and settings folder."""
    home = tmp_path_factory.mktemp("medseg_home")
    monkeypatch.setenv("MEDSEG_HOME", str(home))
    monkeypatch.setenv("MEDSEG_CONFIG_DIR", str(home / "config"))
    return home


@pytest.fixture
def make_read_only(monkeypatch) -> Callable[[Path], Path]:
    """A function that makes a folder refuse file creation with "Permission denied".

    The tests run as root in CI, where ``chmod`` does not stop writes, so
    ``os.open`` (which every file creation goes through) is patched instead.
    """
    locked: list[str] = []
    real_open = os.open

    def guarded_open(path, *args, **kwargs):
        if any(os.fspath(path).startswith(folder) for folder in locked):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", guarded_open)

    def lock(folder: Path) -> Path:
        locked.append(os.fspath(folder))
        return folder

    return lock


def make_tiny_model(task: str = "instance", in_channels: int = 3, classes=None, name: str = "tiny") -> SegmentationModel:
    """A small, randomly initialised, real U-Net (built by the engine, not mocked)."""
    classes = classes or (["background", "nucleus"] if task == "instance" else ["background", "a", "b"])
    out = 2 if task == "instance" else len(classes)
    config = UNetConfig(in_channels=in_channels, out_channels=out, depth=2, width=4)
    torch.manual_seed(0)  # the same weights in every run: tests do not depend on luck
    return SegmentationModel.create(ModelInfo(name=name, task=task, classes=classes, architecture=config.to_dict()))


@pytest.fixture
def tiny_model() -> SegmentationModel:
    """A tiny instance model (3-channel input)."""
    return make_tiny_model()


def synthetic_nuclei(size: int = 96, n: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A bright-disks-on-dark image and its instance labels."""
    rng = np.random.default_rng(seed)
    labels = np.zeros((size, size), np.int32)
    for i in range(n):
        r = int(rng.integers(4, 9))
        centre = tuple(int(c) for c in rng.integers(r, size - r, 2))
        rr, cc = disk(centre, r, shape=labels.shape)
        labels[rr, cc] = i + 1
    image = (labels > 0) * 0.8 + rng.normal(0, 0.05, labels.shape)
    return image.astype(np.float32), labels

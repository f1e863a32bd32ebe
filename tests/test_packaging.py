"""The wheel carries the shipped models, samples and the napari manifest."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_contains_resources(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
    )
    (wheel,) = tmp_path.glob("medseg-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {p.name for p in (ROOT / "resources" / "models").glob("*.safetensors")}
    assert shipped, "no shipped models in resources/models"
    for model in shipped:
        assert f"medseg_core/_resources/models/{model}" in names
    samples = {p.name for p in (ROOT / "resources" / "samples").glob("*.png")}
    assert samples and all(f"medseg_core/_resources/samples/{s}" in names for s in samples)
    assert "medseg_core/_resources/encoders/efficientnet-lite0.safetensors" in names  # new models start from it
    assert not any("checkpoints" in n for n in names)  # training checkpoints stay out of the wheel
    assert "medseg_app/napari.yaml" in names
    assert not any(n.startswith("app/") for n in names)


def test_resources_are_found():
    from medseg_core.registry import resources_dir, shipped_models_dir

    assert (resources_dir() / "samples").is_dir()
    assert shipped_models_dir().is_dir()

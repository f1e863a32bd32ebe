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
    icons = {p.name for p in (ROOT / "resources" / "icons").iterdir()}
    assert {"medseg.svg", "medseg-16.png", "medseg-256.png", "medseg-512.png"} <= icons
    assert all(f"medseg_core/_resources/icons/{i}" in names for i in icons)
    (licence,) = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
    assert "BSD 3-Clause" in zipfile.ZipFile(wheel).read(licence).decode()
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "Classifier: Framework :: napari" in metadata
    assert "License-Expression: BSD-3-Clause" in metadata
    assert "Requires-Dist: torchvision" not in metadata  # nothing imports it
    assert not any(n.startswith("packaging/") for n in names)  # the bundle recipe stays out of the wheel


def test_resources_are_found():
    from medseg_core.registry import resources_dir, shipped_models_dir

    assert (resources_dir() / "samples").is_dir()
    assert shipped_models_dir().is_dir()


@pytest.mark.slow
def test_wheel_installs_working_commands(tmp_path):
    """``pip install`` of the wheel (not editable) gives ``medseg`` and ``medseg-app`` that find the models.

    The new environment reuses this one's dependencies through a ``.pth`` file
    (no downloads), but MedSeg itself comes only from the wheel: this
    checkout's editable install is not visible there.
    """
    import sysconfig
    import venv

    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
    )
    (wheel,) = tmp_path.glob("medseg-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    (Path(site) / "_medseg_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)], check=True
    )
    where = subprocess.run(
        [str(python), "-c", "import medseg_core, medseg_app; print(medseg_core.__file__); print(medseg_app.__file__)"],
        check=True, capture_output=True, text=True, cwd=tmp_path,
    ).stdout.split()
    assert all(path.startswith(site) for path in where), where
    models = subprocess.run(
        [str(env_dir / "bin" / "medseg"), "models"], check=True, capture_output=True, text=True, cwd=tmp_path
    ).stdout
    for name in ("nuclei", "nuclei-he", "em-membranes", "cxr-lungs"):
        assert name in models
    version = subprocess.run(
        [str(env_dir / "bin" / "medseg-app"), "--version"], check=True, capture_output=True, text=True, cwd=tmp_path
    ).stdout
    assert version.startswith("MedSeg ")

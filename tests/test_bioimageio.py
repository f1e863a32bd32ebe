"""bioimage.io packages: export of every shipped model passes bioimageio.core's test; import round trip; bad input.

Everything runs offline: HTTP calls are recorded and refused, bioimageio's
cache lives in a temporary folder.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip("bioimageio.core")

import medseg_core  # noqa: E402
from conftest import make_tiny_model, synthetic_nuclei  # noqa: E402
from medseg_core.cli import main  # noqa: E402
from medseg_core.exchange import ExchangeError  # noqa: E402
from medseg_core.exchange.bioimageio_export import check_package, export_bioimageio_iter  # noqa: E402
from medseg_core.exchange.bioimageio_import import import_bioimageio  # noqa: E402
from medseg_core.io import read_image  # noqa: E402
from medseg_core.progress import Progress, drain  # noqa: E402
from medseg_core.registry import resources_dir  # noqa: E402

SHIPPED = ("nuclei", "nuclei-he", "cxr-lungs", "em-membranes")


@pytest.fixture(autouse=True)
def offline_bioimageio(tmp_path_factory, monkeypatch):
    """bioimageio's cache in a temporary folder, and any HTTP request an error the test sees."""
    import httpx
    from bioimageio.spec import settings

    monkeypatch.setattr(settings, "cache_path", tmp_path_factory.mktemp("bioimageio_cache"))
    calls = []

    def refuse(*args, **kwargs):
        calls.append(args[:2])
        raise httpx.ConnectError("no network in tests")

    monkeypatch.setattr(httpx, "request", refuse)
    monkeypatch.setattr(httpx, "stream", refuse)
    monkeypatch.setattr(httpx.Client, "send", refuse)
    yield
    assert not calls, f"bioimageio tried the network: {calls}"


def export(model, out: Path, **options) -> Path:
    records: list[Progress] = []
    path = drain(export_bioimageio_iter(model, out, test=False, **options), records.append)
    assert records and records[-1].done == records[-1].total
    return path


def read_rdf(package: Path) -> dict:
    with zipfile.ZipFile(package) as archive:
        return yaml.safe_load(archive.read("rdf.yaml"))


@pytest.fixture(scope="module")
def nuclei_package(tmp_path_factory) -> Path:
    """The shipped nuclei model exported once for the module."""
    return export(medseg_core.load_model("nuclei", "cpu"), tmp_path_factory.mktemp("pkg") / "nuclei.zip")


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_package_passes_bioimageio_core(name, tmp_path, nuclei_package):
    model = medseg_core.load_model(name, "cpu")
    package = nuclei_package if name == "nuclei" else export(model, tmp_path / f"{name}.zip")
    check_package(package)  # bioimageio.core's test: every weight format reproduces the test output
    rdf = read_rdf(package)
    assert rdf["format_version"].startswith("0.5.")
    assert set(rdf["weights"]) == {"pytorch_state_dict", "torchscript", "onnx"}
    assert any(c.get("doi") == "10.1007/978-3-319-24574-4_28" for c in rdf["cite"])  # U-Net
    assert len(rdf["cite"]) >= 2  # U-Net and the training data
    pre = rdf["inputs"][0]["preprocessing"][1]
    assert pre["id"] == "scale_range"
    assert pre["kwargs"]["min_percentile"] == model.info.normalization["low"]
    assert pre["kwargs"]["max_percentile"] == model.info.normalization["high"]
    assert rdf["config"]["medseg"]["model"]["name"] == name
    with zipfile.ZipFile(package) as archive:
        readme = archive.read("README.md").decode()
    assert "Post-processing" in readme and "spec issue 751" in readme or model.info.task == "semantic"
    if model.info.use_restriction:
        assert "research use only" in rdf["description"].lower()
        assert rdf["license"] == "CC-BY-NC-SA-4.0"


def test_test_output_is_medsegs_own_prediction(nuclei_package):
    """The package's test output equals what segment_iter computes on the same network input."""
    from medseg_core.segment import predict_plane

    model = medseg_core.load_model("nuclei", "cpu")
    with zipfile.ZipFile(nuclei_package) as archive:
        raw = np.load(io.BytesIO(archive.read("test_input.npy")))
        expected = np.load(io.BytesIO(archive.read("test_output.npy")))
    image = np.moveaxis(raw[0], 0, -1)  # raw intensities, (h, w, 3)
    maps = drain(predict_plane(image, model, tile=512))
    assert np.abs(maps - expected[0]).max() < 1e-4


def test_round_trip_gives_the_same_labels(nuclei_package):
    path = import_bioimageio(nuclei_package, name="nuclei-imported")
    assert path.stem == "nuclei-imported"
    original = medseg_core.load_model("nuclei", "cpu")
    imported = medseg_core.load_model("nuclei-imported", "cpu")
    image = read_image(resources_dir() / "samples" / "nuclei_fluorescence.png").array
    a = medseg_core.segment(image, original)
    b = medseg_core.segment(image, imported)
    assert a.count > 20
    np.testing.assert_array_equal(a.labels, b.labels)
    assert np.abs(a.probabilities - b.probabilities).max() <= 1e-5


def test_import_keeps_the_models_name_and_refuses_a_taken_one(nuclei_package, capsys):
    with pytest.raises(medseg_core.errors.ModelFileError, match="shipped model"):
        import_bioimageio(nuclei_package)  # 'nuclei' is shipped
    assert main(["models", "import", str(nuclei_package), "--name", "nuclei-2"]) == 0
    assert "nuclei-2" in capsys.readouterr().out
    assert main(["models", "import", str(nuclei_package), "--name", "nuclei-2"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "exists already" in err
    assert main(["models"]) == 0 and "nuclei-2" in capsys.readouterr().out
    assert main(["models", "list"]) == 0 and "nuclei-2" in capsys.readouterr().out


def test_tiny_user_model_exports_and_passes(tmp_path):
    model = make_tiny_model(in_channels=1, name="tiny-user")
    model.info.description = "Fine-tuned on my cells."
    image, _ = synthetic_nuclei(size=96)
    sample = tmp_path / "sample.tif"
    import tifffile

    tifffile.imwrite(sample, (image * 1000).astype(np.uint16))
    package = export(model, tmp_path / "tiny.zip", sample=sample, authors=["A. Biologist"])
    check_package(package)
    rdf = read_rdf(package)
    assert rdf["authors"] == [{"name": "A. Biologist"}]
    assert rdf["license"] == "BSD-3-Clause"
    assert rdf["inputs"][0]["axes"][1]["channel_names"] == ["gray"]
    assert rdf["outputs"][0]["axes"][2]["halo"] == 32  # tiled prediction crops it
    assert rdf["config"]["medseg"]["sample"] == "sample.tif"


# ------------------------------------------------------------------ bad input: clear errors, nothing written


@pytest.mark.parametrize("name, reason", [("abc", "3 characters"), ("my.model", "'.'"), ("nuclei/x", "'/'")])
def test_export_refuses_names_bioimageio_rejects_and_writes_nothing(tmp_path, name, reason):
    out = tmp_path / "new-folder" / "model.zip"
    model = make_tiny_model(name="tiny-model")
    with pytest.raises(ExchangeError, match=reason) as info:
        export(model, out, name=name)
    assert "\n" not in str(info.value) and "bioimage.io model name" in str(info.value)
    assert not out.parent.exists()


def test_export_refuses_invalid_metadata_and_writes_nothing(tmp_path):
    out = tmp_path / "model.zip"
    model = make_tiny_model(name="tiny-model")
    with pytest.raises(ExchangeError, match="licen") as info:
        export(model, out, licence="no such licence")
    assert "\n" not in str(info.value)
    with pytest.raises(ExchangeError, match="author"):
        export(model, out, authors=["  "])
    with pytest.raises(ExchangeError, match=r"\.zip"):
        export(model, tmp_path / "model.tar")
    assert list(tmp_path.iterdir()) == []


def test_cli_export_of_a_bad_name_is_one_line_and_exit_2(tmp_path, capsys):
    model_path = make_tiny_model(name="tiny").save(tmp_path / "tiny.safetensors")
    out = tmp_path / "tiny.zip"
    assert main(["export", str(model_path), "--format", "bioimageio", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--name" in err
    assert not out.exists()


def _zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def test_import_refuses_corrupt_and_foreign_packages_in_one_line(tmp_path, nuclei_package):
    not_zip = tmp_path / "model.zip"
    not_zip.write_bytes(b"not a zip at all")
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(nuclei_package.read_bytes()[: nuclei_package.stat().st_size // 2])
    stardist = {"type": "model", "format_version": "0.5.3", "name": "StarDist nuclei", "config": {"stardist": {}}}
    foreign = _zip(tmp_path / "stardist.zip", {"rdf.yaml": yaml.safe_dump(stardist).encode()})
    dataset = _zip(tmp_path / "dataset.zip", {"rdf.yaml": b"type: dataset\nname: cells\n"})
    no_rdf = _zip(tmp_path / "plain.zip", {"readme.txt": b"hello"})
    bad_yaml = _zip(tmp_path / "badyaml.zip", {"rdf.yaml": b"type: [model"})
    # a MedSeg package whose model file was replaced: the SHA-256 in rdf.yaml no longer matches
    with zipfile.ZipFile(nuclei_package) as archive:
        files = {n: archive.read(n) for n in archive.namelist()}
    files["nuclei.safetensors"] = files["nuclei.safetensors"][:-8] + b"\0" * 8
    tampered = _zip(tmp_path / "tampered.zip", files)
    newer = dict(files)
    rdf = yaml.safe_load(files["rdf.yaml"])
    rdf["config"]["medseg"]["package_format"] = 99
    newer["rdf.yaml"] = yaml.safe_dump(rdf).encode()
    newer_pkg = _zip(tmp_path / "newer.zip", newer)
    cases = {
        not_zip: "not a zip file",
        truncated: "not a zip file|corrupt",
        foreign: r"not exported by MedSeg \(it is a StarDist package\)",
        dataset: "not a model",
        no_rdf: "no rdf.yaml",
        bad_yaml: "not valid YAML",
        tampered: "does not match its SHA-256",
        newer_pkg: "newer MedSeg",
        tmp_path / "missing.zip": "does not exist",
    }
    for package, reason in cases.items():
        with pytest.raises(ExchangeError, match=reason) as info:
            import_bioimageio(package, name="imported")
        assert "\n" not in str(info.value), str(info.value)
    assert not (Path(medseg_core.registry.user_models_dir()) / "imported.safetensors").exists()


def test_cli_import_of_a_corrupt_zip_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK\x03\x04 broken")
    assert main(["models", "import", str(bad)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "bad.zip" in err


def test_rdf_documents_the_network_resolution(tmp_path):
    model = make_tiny_model(in_channels=1, name="half-res")
    model.info.input_scale = 0.5
    package = export(model, tmp_path / "half.zip")
    with zipfile.ZipFile(package) as archive:
        readme = archive.read("README.md").decode()
        raw = np.load(io.BytesIO(archive.read("test_input.npy")))
    assert "0.5 times the image size" in readme
    assert raw.shape[-1] == 128  # the 256-pixel sample at half resolution
    assert json.loads(json.dumps(read_rdf(package)["config"]["medseg"]["model"]))["input_scale"] == 0.5


def test_export_refuses_a_sample_smaller_than_the_package_input(tmp_path):
    import tifffile

    model = make_tiny_model(in_channels=1, name="tiny-model")
    tifffile.imwrite(tmp_path / "small.tif", np.random.default_rng(0).random((40, 40)).astype(np.float32))
    with pytest.raises(ExchangeError, match="larger --sample") as info:
        export(model, tmp_path / "out.zip", sample=tmp_path / "small.tif")
    assert "\n" not in str(info.value)
    assert not (tmp_path / "out.zip").exists()

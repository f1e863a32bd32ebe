"""Model files: safetensors + JSON metadata, never unpickled, mismatches refused."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from conftest import make_tiny_model
from medseg_core.errors import ModelFileError
from medseg_core.model import ModelInfo, load_model_file, read_info
from medseg_core.unet import UNet, UNetConfig


def test_round_trip_gives_identical_outputs(tmp_path):
    model = make_tiny_model()
    model.net.eval()
    path = model.save(tmp_path / "m.safetensors")
    loaded = load_model_file(path)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model.net(x), loaded.net(x))
    assert loaded.info.name == "tiny" and loaded.info.task == "instance"
    assert loaded.info.created  # stamped on save
    assert read_info(path).architecture == model.info.architecture


def test_metadata_that_disagrees_with_tensors_is_refused(tmp_path):
    model = make_tiny_model()
    info = ModelInfo.from_json(model.info.to_json())
    info.architecture = {**info.architecture, "width": 8}
    tensors = {k: v.contiguous() for k, v in model.net.state_dict().items()}
    path = tmp_path / "bad.safetensors"
    save_file(tensors, str(path), metadata={"medseg": info.to_json()})
    with pytest.raises(ModelFileError, match="do not match"):
        load_model_file(path)


@pytest.mark.parametrize(
    "content, message",
    [(b"", "not a readable model file"), (b"\x80\x04K\x01.", "not a readable model file")],
)
def test_garbage_files_are_refused(tmp_path, content, message):
    path = tmp_path / "x.safetensors"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match=message):
        load_model_file(path)


def test_safetensors_without_metadata_is_refused(tmp_path):
    path = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(ModelFileError, match="no MedSeg metadata"):
        load_model_file(path)


def test_missing_file_and_newer_format(tmp_path):
    with pytest.raises(ModelFileError, match="not found"):
        load_model_file(tmp_path / "nope.safetensors")
    data = json.loads(make_tiny_model().info.to_json())
    data["format_version"] = 99
    with pytest.raises(ModelFileError, match="newer"):
        ModelInfo.from_json(json.dumps(data))


def test_output_channels_must_fit_the_task():
    config = UNetConfig(in_channels=1, out_channels=2).to_dict()
    with pytest.raises(ModelFileError, match="output channels"):
        ModelInfo(name="x", task="semantic", classes=["a", "b", "c"], architecture=config)


@pytest.mark.parametrize("stem_stride, depth, size", [(1, 2, (32, 48)), (2, 3, (64, 32)), (2, 4, (128, 128))])
def test_unet_output_shape(stem_stride, depth, size):
    net = UNet(UNetConfig(in_channels=2, out_channels=3, depth=depth, width=4, stem_stride=stem_stride))
    assert net(torch.rand(2, 2, *size)).shape == (2, 3, *size)


def test_half_precision_file_is_smaller_and_close(tmp_path):
    model = make_tiny_model()
    model.net.eval()
    full = model.save(tmp_path / "full.safetensors")
    half = model.save(tmp_path / "half.safetensors", half=True)
    assert half.stat().st_size < full.stat().st_size
    loaded = load_model_file(half)
    assert next(loaded.net.parameters()).dtype == torch.float32
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        np.testing.assert_allclose(model.net(x).numpy(), loaded.net(x).numpy(), atol=1e-2)
    assert oct(half.stat().st_mode & 0o777) != "0o600"


def test_inference_net_folds_batch_norm_and_follows_weight_changes():
    import torch

    from conftest import make_tiny_model

    model = make_tiny_model(in_channels=1)
    model.net.train()
    x = torch.rand(2, 1, 32, 32)
    model.net(x)  # moves the running statistics away from their initial values
    model.net.eval()
    fused = model.inference_net()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    with torch.no_grad():
        assert torch.allclose(fused(x), model.net(x), atol=1e-5)
        assert model.inference_net() is fused  # cached while the weights stay the same
        model.net.head.bias.add_(1.0)
        refreshed = model.inference_net()
        assert refreshed is not fused
        assert torch.allclose(refreshed(x), model.net(x), atol=1e-5)

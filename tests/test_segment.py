"""The public API: load_model, segment, segment_iter."""

from __future__ import annotations

import numpy as np
import pytest

import medseg_core
from conftest import make_tiny_model
from medseg_core.errors import Cancelled, InputError, ModelFileError
from medseg_core.normalize import normalized_channels, percentile_normalize
from medseg_core.progress import drain
from medseg_core.training import prepare_pair


def test_segment_returns_labels_of_the_image_size(tiny_model):
    image = np.random.default_rng(0).random((70, 90)).astype(np.float32)
    result = medseg_core.segment(image, tiny_model, tile=64)
    assert result.labels.shape == (70, 90)
    assert result.probabilities.shape == (70, 90)
    assert result.count == int(result.labels.max())
    assert result.task == "instance" and result.model_name == "tiny"


def test_semantic_model_gives_class_indices():
    model = make_tiny_model("semantic", in_channels=1)
    result = medseg_core.segment(np.random.rand(40, 40, 3), model, threshold=0.0)
    assert result.labels.shape == (40, 40)
    assert result.probabilities.shape == (3, 40, 40)
    assert result.labels.max() < 3
    np.testing.assert_allclose(result.probabilities.sum(0), 1, atol=1e-5)


def test_stack_is_segmented_slice_by_slice_with_unique_labels(tiny_model):
    rng = np.random.default_rng(1)
    stack = rng.random((3, 48, 48)).astype(np.float32)
    result = medseg_core.segment(stack, tiny_model, axes="ZYX", threshold=0.3, seed_threshold=0.3)
    assert result.labels.shape == (3, 48, 48)
    per_slice = [set(np.unique(s)) - {0} for s in result.labels]
    assert all(not (a & b) for i, a in enumerate(per_slice) for b in per_slice[i + 1 :])
    assert result.count == len(set().union(*per_slice))


@pytest.mark.parametrize(
    "image, match",
    [
        (np.zeros((1, 1)), "too small"),
        (np.zeros((2, 2, 2, 2, 2)), "cannot segment"),
        (np.array([["a", "b"], ["c", "d"]]), "non-numeric"),
    ],
)
def test_unusable_arrays_raise_one_clear_error(tiny_model, image, match):
    with pytest.raises(InputError, match=match):
        medseg_core.segment(image, tiny_model)


def test_all_zero_and_non_finite_images_are_handled(tiny_model):
    assert medseg_core.segment(np.zeros((64, 64)), tiny_model).labels.shape == (64, 64)
    image = np.random.rand(64, 64).astype(np.float32)
    image[:10] = np.nan
    image[10:20] = np.inf
    result = medseg_core.segment(image, tiny_model)
    assert np.isfinite(result.probabilities).all()


def test_cancel_raises_and_returns_nothing(tiny_model):
    calls = []
    with pytest.raises(Cancelled):
        medseg_core.segment(np.random.rand(256, 256), tiny_model, tile=64, cancel=lambda: len(calls) > 2, progress=calls.append)


def test_closing_the_generator_leaves_the_model_usable(tiny_model):
    gen = medseg_core.segment_iter(np.random.rand(200, 200), tiny_model, tile=64)
    next(gen), next(gen)
    gen.close()
    assert medseg_core.segment(np.random.rand(64, 64), tiny_model).labels.shape == (64, 64)


def test_progress_reaches_the_end(tiny_model):
    records = []
    drain(medseg_core.segment_iter(np.random.rand(130, 130), tiny_model, tile=64), records.append)
    assert records[-1].stage == "postprocess" and records[-1].fraction == 1.0
    assert any(r.stage == "network" for r in records)


def test_models_resolve_by_name_and_path(tiny_model, medseg_home):
    from medseg_core.registry import user_models_dir

    path = tiny_model.save(user_models_dir() / "mine.safetensors")
    assert medseg_core.load_model("mine", device="cpu").source == path
    assert medseg_core.load_model(str(path), device="cpu").info.name == "tiny"
    assert "mine" in [e.name for e in medseg_core.list_models()]
    with pytest.raises(ModelFileError, match="no model named"):
        medseg_core.load_model("does-not-exist")


def test_engine_imports_no_qt():
    import subprocess
    import sys

    code = (
        "import sys, numpy as np, medseg_core, medseg_core.cli, medseg_core.training, medseg_core.batch\n"
        "from medseg_core.model import ModelInfo, SegmentationModel\n"
        "from medseg_core.unet import UNetConfig\n"
        "m = SegmentationModel.create(ModelInfo(name='t', task='instance', classes=['b', 'o'],"
        " architecture=UNetConfig(in_channels=1, out_channels=2, depth=2, width=4).to_dict()))\n"
        "medseg_core.segment(np.random.rand(32, 32), m)\n"
        "bad = [n for n in sys.modules if n.split('.')[0] in ('PySide6', 'PyQt5', 'PyQt6', 'qtpy', 'napari', 'vispy')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("channels", [1, 3])
def test_the_callers_image_is_never_modified(channels):
    # a float32 grayscale image is what napari hands over for EM and X-ray layers
    model = make_tiny_model(in_channels=channels)
    image = (np.random.default_rng(0).random((40, 50)) * 1000).astype(np.float32)
    before = image.copy()
    medseg_core.segment(image, model)
    prepare_pair(image, np.zeros(image.shape, np.int32), model.info, name="a")
    assert np.array_equal(image, before)


def test_gray_image_normalised_once_equals_each_repeated_channel_normalised():
    image = (np.random.default_rng(1).random((30, 20)) * 500).astype(np.float32)
    repeated = np.repeat(image[None], 3, axis=0)
    expected = percentile_normalize(repeated.copy(), 1.0, 99.8)
    assert np.allclose(normalized_channels(image, 3, 1.0, 99.8), expected)

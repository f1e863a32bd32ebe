"""Choosing instance post-processing on annotated images."""

from __future__ import annotations

import pytest

import medseg_core
from medseg_core.calibrate import calibrate_instances_iter, instance_options
from medseg_core.errors import InputError
from medseg_core.metrics import ObjectMetricAccumulator
from medseg_core.progress import Progress, drain
from medseg_core.training import TrainConfig, prepare_pair, train

from conftest import make_tiny_model, synthetic_nuclei


@pytest.fixture(scope="module")
def trained_model():
    """A tiny model trained for a few seconds on synthetic nuclei: it finds most of them."""
    model = make_tiny_model(in_channels=1)
    data = [prepare_pair(*synthetic_nuclei(seed=s), model.info, name=str(s)) for s in range(4)]
    config = TrainConfig(epochs=1, steps_per_epoch=80, batch_size=4, crop=64, lr=1e-2, device="cpu")
    return train(model, data, [], config).model


def test_calibration_returns_the_best_grid_point_as_segment_would_score_it(trained_model):
    model = trained_model.copy()
    samples = [synthetic_nuclei(seed=s) for s in range(10, 13)]
    pairs = [prepare_pair(image, labels, model.info, name=str(i)) for i, (image, labels) in enumerate(samples)]
    records: list[Progress] = []
    # disks have 50-200 pixels: a smallest size of 120 drops real nuclei and must lose
    grid = dict(prominences=(0.0, 0.1), min_sizes=(120, 0))
    result = drain(calibrate_instances_iter(model, pairs, **grid), records.append)

    assert set(result.scores) == {(0.0, 0), (0.0, 120), (0.1, 0), (0.1, 120)}
    assert result.score == max(result.scores.values()) > 0.5
    assert result.options["min_size"] == 0
    assert result.scores[(0.0, 120)] < result.scores[(0.0, 0)]
    assert {"predict", "calibrate"} <= {r.stage for r in records}
    # the same options through the public pipeline give the same score
    model.info.postprocess = result.options
    acc = ObjectMetricAccumulator((0.5,))
    for image, labels in samples:
        acc.add(medseg_core.segment(image, model).labels, labels)
    assert acc.result()["thresholds"][0.5]["ap"] == pytest.approx(result.score)


def test_grid_points_map_to_seeding_modes():
    assert instance_options(0.0, 10)["seed_threshold"] == 0.5
    assert instance_options(0.2, 20) == {"threshold": 0.5, "seed_threshold": 0.3, "prominence": 0.2, "min_size": 20}


@pytest.mark.parametrize(
    "task, n_images, message",
    [("semantic", 1, "only instance models"), ("instance", 0, "at least one")],
)
def test_bad_calibration_input_is_refused(task, n_images, message):
    model = make_tiny_model(task, in_channels=1)
    image, labels = synthetic_nuclei()
    pairs = [prepare_pair(image, (labels > 0).astype(int), model.info, name="a")] * n_images
    with pytest.raises(InputError, match=message):
        drain(calibrate_instances_iter(model, pairs))

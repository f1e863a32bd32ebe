"""The Segment panel's device choice (medseg_app._devices) reaches the worker (run_jobs)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medseg_app._devices import device_choices
from medseg_app._segment_job import Failure, Job, ModelCache, run_jobs
from _app_support import *  # noqa: F403
from _app_support import SAMPLE


def _drain(gen):
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


def _job() -> Job:
    from medseg_core.io import read_image

    return Job(name="s", data=np.asarray(read_image(SAMPLE).array), axes="YX", scale=(1, 1), translate=(0, 0))


def test_choices_are_auto_cpu_then_present_gpus():
    choices = device_choices()
    values = [value for value, _text in choices]
    assert values[:2] == ["auto", "cpu"]
    assert choices[1][1].startswith("CPU (")
    assert ("cuda" in values) == torch.cuda.is_available()


def test_run_on_the_chosen_device(demo_model_path):
    cache = ModelCache()
    result = _drain(run_jobs([_job()], demo_model_path, {}, cache, device="cpu"))
    assert not isinstance(result, Failure)
    (_job_done, segmentation), = result
    assert segmentation.count > 0
    assert next(cache._model.net.parameters()).device.type == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_missing_gpu_fails_in_one_line(demo_model_path):
    result = _drain(run_jobs([_job()], demo_model_path, {}, ModelCache(), device="cuda"))
    assert isinstance(result, Failure)
    assert result.message == "CUDA was requested but no CUDA GPU is available"

"""medseg_core.finetune: the fine-tuning run shared by ``medseg train`` and the app."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import make_tiny_model, synthetic_nuclei
from medseg_core.finetune import (
    BaselineEvent,
    FineTuneJob,
    NoticeEvent,
    build_start_model,
    finetune_iter,
    save_with_fallback,
)
from medseg_core.finetune_data import plan_validation, sources_from_arrays
from medseg_core.model import load_model_file
from medseg_core.progress import drain
from medseg_core.segment import segment
from medseg_core.training import TrainConfig


@pytest.fixture
def base_path(tmp_path):
    model = make_tiny_model(in_channels=1)
    model.info.postprocess = {"threshold": 0.5, "seed_threshold": 0.5, "min_size": 4}
    return model.save(tmp_path / "base.safetensors")


def sources(n: int = 4, labels_from=None):
    out = []
    for seed in range(n):
        image, labels = synthetic_nuclei(seed=seed)
        if labels_from is not None:
            labels = labels_from(image)
        out += sources_from_arrays(f"img{seed}", image, labels)
    return out


def job(base_path, tmp_path, plan, **config) -> FineTuneJob:
    options = dict(epochs=2, steps_per_epoch=6, batch_size=4, crop=64, lr=3e-3, device="cpu", freeze_batchnorm=True)
    return FineTuneJob(
        base=str(base_path), name="tuned", out_path=tmp_path / "tuned.safetensors", plan=plan,
        config=TrainConfig(**{**options, **config}),
    )


def test_result_is_never_worse_than_the_base_on_the_held_back_images(base_path, tmp_path):
    plan = plan_validation(sources(), val_fraction=0.25)
    events = []
    outcome = drain(finetune_iter(job(base_path, tmp_path, plan)), events.append)
    baseline = [e for e in events if isinstance(e, BaselineEvent)]
    assert len(baseline) == 1 and baseline[0].metrics == outcome.before
    assert outcome.held_back == [s.name for s in plan.val] and len(outcome.held_back) == 1
    assert outcome.after["ap50"] >= outcome.before["ap50"]
    saved = load_model_file(outcome.path)
    assert saved.info.parent == "tiny" and saved.info.metrics == outcome.after
    assert saved.info.training["parent_metrics"] == outcome.before
    assert saved.info.training["validation"] == outcome.held_back


def test_when_nothing_beats_the_base_its_weights_are_kept_and_said_so(base_path, tmp_path):
    plan = plan_validation(sources(), val_fraction=0.25)
    events = []
    outcome = drain(finetune_iter(job(base_path, tmp_path, plan, lr=1e-12)), events.append)
    assert not outcome.improved
    assert any(isinstance(e, NoticeEvent) and "starting model's weights" in e.message for e in events)
    base, saved = load_model_file(base_path), load_model_file(outcome.path)
    for key, value in base.net.state_dict().items():
        assert torch.equal(value, saved.net.state_dict()[key])
    assert saved.info.training["kept_parent_weights"] is True


def test_labels_that_are_the_models_own_prediction_are_flagged(base_path, tmp_path):
    base = load_model_file(base_path)
    uncorrected = sources(labels_from=lambda image: segment(image, base).labels)
    if all(s.n_objects == 0 for s in uncorrected):
        pytest.skip("the tiny model finds nothing on these images")
    plan = plan_validation(uncorrected, val_fraction=0.25)
    events = []
    drain(finetune_iter(job(base_path, tmp_path, plan, epochs=1)), events.append)
    notices = [e.message for e in events if isinstance(e, NoticeEvent)]
    assert any("exactly tiny's own prediction" in n for n in notices)


def test_corrected_labels_are_not_flagged(base_path, tmp_path):
    plan = plan_validation(sources(), val_fraction=0.25)
    events = []
    drain(finetune_iter(job(base_path, tmp_path, plan, epochs=1)), events.append)
    assert not any(isinstance(e, NoticeEvent) and "own prediction" in e.message for e in events)


def test_a_finished_training_is_never_lost_to_a_bad_output_path(tmp_path, medseg_home):
    model = make_tiny_model()
    model.info.name = "mine"
    folder = tmp_path / "a-folder.safetensors"
    folder.mkdir()
    path, elsewhere = save_with_fallback(model, folder)
    assert elsewhere and path == medseg_home / "models" / "mine.safetensors" and path.is_file()
    again, _ = save_with_fallback(model, folder)
    assert again.name == "mine-2.safetensors"


def test_a_full_disk_falls_back_too(tmp_path, monkeypatch, medseg_home):
    import errno

    from medseg_core import model as model_module

    model = make_tiny_model()
    real_save = model_module.save_file
    target = tmp_path / "out.safetensors"

    def full(tensors, path, metadata=None):
        if str(tmp_path) in str(path):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(tensors, path, metadata=metadata)

    monkeypatch.setattr(model_module, "save_file", full)
    path, elsewhere = save_with_fallback(model, target)
    assert elsewhere and path.parent == medseg_home / "models" and not target.exists()


def test_new_models_start_from_the_pretrained_encoder():
    from medseg_core import pretrained

    model = build_start_model(None, "instance", "background,cell", 1, name="new")
    assert model.info.config.encoder == "efficientnet-lite0"
    tensors = pretrained.load_encoder_tensors("efficientnet-lite0")
    key = "levels.2.0.depthwise.1.weight"
    assert torch.equal(model.net.backbone.state_dict()[key], tensors[key])
    assert np.isfinite(model.net(torch.rand(1, 1, 64, 64)).detach().numpy()).all()


def test_the_crop_shrinks_to_the_typical_image_at_the_models_input_scale():
    from medseg_core.finetune import fit_crop
    from medseg_core.training import prepare_pair

    model = make_tiny_model(in_channels=1)
    model.info.input_scale = 0.5
    pairs = [prepare_pair(*synthetic_nuclei(size=s, seed=1), model.info) for s in (256, 260, 300)]
    assert fit_crop(pairs, 256, 32) == 128  # 256-pixel images are 128 pixels at input scale 0.5
    assert fit_crop(pairs, 96, 32) == 96
    assert fit_crop(pairs[:1], 256, 48) == 96

"""Training engine: data, augmentation, loop, stop/cancel and checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import make_tiny_model, synthetic_nuclei
from medseg_core.errors import InputError
from medseg_core.model import load_model_file
from medseg_core.training import (
    AugmentConfig,
    StepEvent,
    TrainConfig,
    ValidationEvent,
    prepare_pair,
    split_pairs,
    train,
    train_iter,
)
from medseg_core.progress import Progress
from medseg_core.training.augment import augment_batch, sample_crops
from medseg_core.training.trainer import estimate_remaining


@pytest.fixture
def pairs():
    model = make_tiny_model(in_channels=1)
    return model, [prepare_pair(*synthetic_nuclei(seed=s), model.info, name=str(s)) for s in range(3)]


def small_config(**kw) -> TrainConfig:
    base = dict(epochs=3, steps_per_epoch=8, batch_size=4, crop=64, lr=3e-3, device="cpu")
    return TrainConfig(**{**base, **kw})


def test_loss_falls_and_callbacks_fire(pairs):
    model, data = pairs
    events = []
    result = train(model, data[:2], data[2:], small_config(epochs=4), callback=events.append)
    steps = [e for e in events if isinstance(e, StepEvent)]
    vals = [e for e in events if isinstance(e, ValidationEvent)]
    assert len(steps) == 32 and len(vals) == 4
    assert np.mean([e.loss for e in steps[-8:]]) < np.mean([e.loss for e in steps[:8]])
    assert {"accuracy", "precision", "recall", "f1", "iou", "ap50", "map"} <= set(vals[0].metrics)
    assert result.metrics == max((v.metrics for v in vals), key=lambda m: m["ap50"])
    assert result.model.info.training["steps"] == 32


def test_original_model_is_untouched(pairs):
    model, data = pairs
    before = {k: v.clone() for k, v in model.net.state_dict().items()}
    train(model, data, [], small_config(epochs=1))
    assert all(torch.equal(before[k], v) for k, v in model.net.state_dict().items())


def test_should_stop_ends_gracefully_with_best_model(pairs):
    model, data = pairs
    steps = []

    def count(event) -> None:
        if isinstance(event, StepEvent):
            steps.append(event.step)

    result = train(model, data[:2], data[2:], small_config(epochs=10), callback=count, should_stop=lambda: len(steps) >= 12)
    assert result.stopped_early and result.steps == 12
    assert result.metrics  # one validation pass happened before the stop


def test_cancel_leaves_the_previous_checkpoint_intact(pairs, tmp_path):
    model, data = pairs
    checkpoint = tmp_path / "model.safetensors"
    config = small_config(epochs=5, checkpoint=checkpoint)
    gen = train_iter(model, data[:2], data[2:], config)
    for event in gen:
        if isinstance(event, ValidationEvent):
            break
    saved = checkpoint.read_bytes()
    for _ in range(3):
        next(gen)
    gen.close()  # cancel in the middle of the next epoch
    assert checkpoint.read_bytes() == saved
    assert load_model_file(checkpoint).info.metrics
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]


def test_time_budget_stops_training(pairs):
    model, data = pairs
    result = train(model, data, [], small_config(epochs=None, max_minutes=0.02))
    assert result.steps >= 1


def test_augmentation_keeps_masks_aligned():
    """Warp an image that equals its own mask: the warped pair must still agree."""
    rng = np.random.default_rng(0)
    model = make_tiny_model(in_channels=1)
    image, labels = synthetic_nuclei(size=80, seed=3)
    pair = prepare_pair((labels > 0).astype(np.float32), labels, model.info)
    images, targets = sample_crops([pair], 4, 64, rng)
    aug = AugmentConfig(gamma=(1, 1), contrast=(1, 1), noise=0, blur_probability=0, elastic=0.01)
    out_i, out_t = augment_batch(
        torch.from_numpy(images), torch.from_numpy(targets), aug, torch.Generator().manual_seed(0), semantic=False
    )
    agreement = ((out_i[:, 0] > 0.5) == (out_t[:, 0] > 0.5)).float().mean()
    assert agreement > 0.98


def test_split_never_shares_items_or_groups():
    items = list(range(20))
    train_items, val_items = split_pairs(items, 0.25, seed=1)
    assert len(val_items) == 5 and not set(train_items) & set(val_items)
    groups = [str(i // 4) for i in items]
    train_items, val_items = split_pairs(items, 0.4, seed=1, groups=groups)
    assert not {groups[i] for i in train_items} & {groups[i] for i in val_items}
    assert split_pairs([1], 0.5) == ([1], [])


def test_bad_inputs_are_refused():
    model = make_tiny_model("semantic", in_channels=1, classes=["bg", "fg"])
    with pytest.raises(InputError, match="differ in size"):
        prepare_pair(np.zeros((10, 10)), np.zeros((12, 10)), model.info)
    with pytest.raises(InputError, match="not a class"):
        prepare_pair(np.zeros((10, 10)), np.full((10, 10), 5), model.info)
    with pytest.raises(InputError, match="class map"):
        prepare_pair(np.zeros((10, 10)), np.full((10, 10), 7), model.info, class_map={0: 0, 255: 1})
    with pytest.raises(InputError, match="nothing to train"):
        train(model, [], [], small_config())
    with pytest.raises(InputError, match="epochs"):
        TrainConfig(epochs=None, max_minutes=None)


def test_semantic_model_trains(pairs):
    model = make_tiny_model("semantic", in_channels=1, classes=["bg", "fg"])
    data = [prepare_pair(img, (lab > 0).astype(int), model.info) for img, lab in (synthetic_nuclei(seed=s) for s in range(2))]
    result = train(model, data[:1], data[1:], small_config(epochs=2))
    assert {"dice_bg", "dice_fg", "f1"} <= set(result.metrics)


def test_frozen_batchnorm_keeps_running_statistics(pairs):
    model, data = pairs
    result = train(model, data, [], small_config(epochs=1, freeze_batchnorm=True))
    for key, value in model.net.state_dict().items():
        if "running_" in key:
            assert torch.equal(value, result.model.net.state_dict()[key]), key


def test_instance_loss_counts_errors_in_the_contact_band_more():
    from medseg_core.training.losses import instance_loss

    targets = torch.zeros(1, 3, 8, 8)
    targets[0, 0, :, :4] = 1  # foreground on the left
    targets[0, 2, :, 3:5] = 1  # contact band: columns 3-4
    logits = torch.where(targets[:, :1] > 0, 6.0, -6.0).repeat(1, 2, 1, 1)
    logits[:, 1] = torch.logit(targets[:, 1].clamp(1e-3, 1 - 1e-3))
    in_band, off_band = logits.clone(), logits.clone()
    in_band[0, 1, 2, 4] = 3.0  # the same distance error, inside and outside the band
    off_band[0, 1, 2, 7] = 3.0
    base = float(instance_loss(logits, targets))
    assert float(instance_loss(in_band, targets)) - base > 5 * (float(instance_loss(off_band, targets)) - base)
    assert float(instance_loss(in_band, targets, contact_weight=0)) == pytest.approx(float(instance_loss(off_band, targets, contact_weight=0)))


def test_stop_during_validation_is_honoured_between_images(pairs):
    model, data = pairs
    seen = []

    def record(event) -> None:
        seen.append(event)

    # stop as soon as validation has reported its first image
    stop = lambda: any(isinstance(e, Progress) and e.stage == "score" for e in seen)  # noqa: E731
    result = train(model, data[:2], data[2:] * 3, small_config(epochs=3), callback=record, should_stop=stop)
    assert result.stopped_early
    assert not any(isinstance(e, ValidationEvent) for e in seen)  # the pass was abandoned, not finished
    assert result.steps == 8


def test_keep_start_returns_the_starting_model_when_no_epoch_beats_it(pairs):
    model, data = pairs
    before = {k: v.clone() for k, v in model.net.state_dict().items()}
    # a learning rate so small that nothing changes the validation score: the start stays best
    result = train(model, data[:2], data[2:], small_config(epochs=2, lr=1e-12, keep_start=True))
    assert result.start_metrics and not result.improved
    assert result.metrics == result.start_metrics
    assert all(torch.equal(before[k], v) for k, v in result.model.net.state_dict().items())
    assert result.history[0]["epoch"] == 0


def test_keep_start_lets_a_better_epoch_win(pairs):
    model, data = pairs
    result = train(model, data, data, small_config(epochs=4, keep_start=True))
    assert result.improved
    assert result.metrics["ap50"] > result.start_metrics["ap50"]


def test_keep_start_wants_a_gain_beyond_the_noise_of_a_few_held_back_images(pairs):
    model, data = pairs
    start = train(model.copy(), data, data, small_config(epochs=4, keep_start=True))
    gain = start.metrics["ap50"] - start.start_metrics["ap50"]
    assert start.improved and gain > 0
    # the same run, asking for more than it gained: the starting model is kept
    kept = train(model.copy(), data, data, small_config(epochs=4, keep_start=True, min_gain=gain + 0.01))
    assert not kept.improved and kept.metrics == kept.start_metrics


def test_an_epoch_that_costs_pixel_f1_does_not_replace_the_start():
    from medseg_core.training.trainer import F1_TOLERANCE, _beats_start

    start = {"ap50": 0.50, "f1": 0.90}
    assert _beats_start({"ap50": 0.53, "f1": 0.90}, start, "ap50", 0.02)
    assert not _beats_start({"ap50": 0.51, "f1": 0.95}, start, "ap50", 0.02)  # gain within the noise
    assert not _beats_start({"ap50": 0.60, "f1": 0.90 - 2 * F1_TOLERANCE}, start, "ap50", 0.02)
    assert _beats_start({"ap50": 0.0, "f1": 0.0}, {}, "ap50", 0.02)  # nothing to beat


def test_time_left_counts_steps_and_validation_passes():
    # 100 steps of 0.5 s, 10 s per validation pass, 4 passes left after epoch 1:
    assert estimate_remaining(20, 100, 20.0, None, 0.5, 10.0, 4) == 80 * 0.5 + 4 * 10.0
    # a time budget ends first: 60 s budget, 20 s spent, plus the last validation pass
    assert estimate_remaining(20, 100, 20.0, 60.0, 0.5, 10.0, 4) == 40.0 + 10.0
    assert estimate_remaining(100, 100, 90.0, None, 0.5, 10.0, 0) == 0.0


def test_validation_agrees_with_evaluation_on_the_original_images(pairs):
    """Training's validation scores the original images as medseg evaluate does."""
    from medseg_core.progress import drain
    from medseg_core.scoring import Sample, score_iter
    from medseg_core.training import validate_iter

    model, _ = pairs
    model.info.input_scale = 0.5  # prepared pairs are resized; validation must not be
    data = [prepare_pair(*synthetic_nuclei(seed=s), model.info, name=str(s)) for s in range(3)]
    metrics = drain(validate_iter(model, data))
    report = drain(score_iter(model, [Sample(p.sample.image, p.sample.truth, p.name) for p in data])).report()
    assert metrics["ap50"] == report["objects"]["0.5"]["ap"]
    assert metrics["f1"] == report["pixel"]["f1"]
    assert data[0].labels.shape != data[0].sample.truth.shape


def test_crops_of_small_images_mirror_image_and_targets_alike():
    """A nucleus mirrored into the padding is labelled as a nucleus there too."""
    image, labels = synthetic_nuclei(size=40, n=3, seed=2)
    model = make_tiny_model(in_channels=1)
    pair = prepare_pair(image, labels, model.info, name="small")
    images, targets = sample_crops([pair], 2, 96, np.random.default_rng(0))
    assert images.shape == (2, 1, 96, 96) and targets.shape[-2:] == (96, 96)
    bright = images[0, 0] > 0.5 * images[0, 0].max()
    foreground = targets[0, 0] > 0.5
    assert (bright == foreground).mean() > 0.97  # without mirrored targets: ~0.9 on this image
    assert foreground[60:, :].any()  # the padded part holds mirrored nuclei


def test_stain_jitter_changes_colour_not_geometry():
    from skimage import data
    from skimage.color import rgb2hed

    rgb = torch.from_numpy(data.immunohistochemistry()[:64, :64].astype(np.float32) / 255).permute(2, 0, 1)[None]
    images = rgb.repeat(4, 1, 1, 1)
    targets = torch.zeros(4, 3, 64, 64)
    off = AugmentConfig(flips=False, rot90=False, scale=(1, 1), rotation_deg=0, elastic=0, gamma=(1, 1),
                        contrast=(1, 1), noise=0, blur_probability=0)
    same, _ = augment_batch(images, targets, off, torch.Generator().manual_seed(0), semantic=False)
    torch.testing.assert_close(same, images)
    on = AugmentConfig(**{**off.__dict__, "stain": 0.3})
    out, out_targets = augment_batch(images, targets, on, torch.Generator().manual_seed(0), semantic=False)
    assert out.shape == images.shape and torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    assert torch.equal(out_targets, targets)
    assert (out[0] - images[0]).abs().mean() > 0.01  # colours moved
    assert not torch.allclose(out[0], out[1])  # each image its own jitter
    # the haematoxylin channel of the result stays correlated with the original's: same structures
    h0 = rgb2hed(images[0].permute(1, 2, 0).numpy())[..., 0].ravel()
    h1 = rgb2hed(out[0].permute(1, 2, 0).numpy())[..., 0].ravel()
    assert np.corrcoef(h0, h1)[0, 1] > 0.9


def test_time_left_after_the_first_validation_is_within_20_percent(pairs, monkeypatch):
    """A fake clock: each step takes 1 s and each validation pass 5 s; the estimates must match the truth."""
    from medseg_core.training import trainer

    model, data = pairs
    clock = {"now": 0.0}
    monkeypatch.setattr(trainer.time, "perf_counter", lambda: clock["now"])
    real_validate = trainer.validate_iter

    def slow_validate(*args, **kwargs):
        result = yield from real_validate(*args, **kwargs)
        clock["now"] += 5.0
        return result

    def tick(event) -> None:
        if isinstance(event, StepEvent):
            clock["now"] += 1.0
            seen.append(event)
        elif isinstance(event, ValidationEvent):
            seen.append(event)

    seen = []
    monkeypatch.setattr(trainer, "validate_iter", slow_validate)
    original_augment = trainer.augment_batch

    def stepping_augment(*args, **kwargs):  # time passes inside each step
        clock["now"] += 1.0
        return original_augment(*args, **kwargs)

    monkeypatch.setattr(trainer, "augment_batch", stepping_augment)
    train(model, data[:2], data[2:], small_config(epochs=3, steps_per_epoch=4), callback=tick)
    end = clock["now"]
    first_validation = next(i for i, e in enumerate(seen) if isinstance(e, ValidationEvent))
    for event in seen[first_validation:]:
        actual = end - event.elapsed_s
        if actual > 0:
            assert abs(event.remaining_s - actual) <= 0.2 * actual, (event, actual)

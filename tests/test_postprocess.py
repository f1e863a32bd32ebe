"""From network maps to instance and class labels."""

from __future__ import annotations

import numpy as np

from medseg_core.postprocess import (
    instances_from_maps,
    remove_small_objects,
    semantic_from_probabilities,
)
from medseg_core.semantic_summary import semantic_objects
from medseg_core.training.targets import instance_targets


def two_touching_disks() -> np.ndarray:
    yy, xx = np.mgrid[:60, :80]
    labels = np.zeros((60, 80), np.int32)
    labels[(yy - 30) ** 2 + (xx - 25) ** 2 < 15**2] = 1
    labels[((yy - 30) ** 2 + (xx - 52) ** 2 < 15**2) & (labels == 0)] = 2
    return labels


def test_touching_objects_are_separated_from_their_targets():
    truth = two_touching_disks()
    foreground, distance, _ = instance_targets(truth)
    labels = instances_from_maps(foreground, distance)
    assert labels.max() == 2
    for value in (1, 2):
        overlap = np.bincount(labels[truth == value], minlength=3)[1:]
        assert overlap.max() / (truth == value).sum() > 0.95


def test_prominent_peaks_separate_touching_objects_and_keep_a_dented_one_whole():
    truth = two_touching_disks()
    foreground, distance, _ = instance_targets(truth)
    labels = instances_from_maps(foreground, distance, seed_threshold=0.3, prominence=0.15)
    assert labels.max() == 2
    for value in (1, 2):
        overlap = np.bincount(labels[truth == value], minlength=3)[1:]
        assert overlap.max() / (truth == value).sum() > 0.95

    # a large object with a flat-topped distance whose shallow dent (textured
    # chromatin) dips below the core threshold: two cores, but one peak
    yy, xx = np.mgrid[:60, :60]
    radius = np.hypot(yy - 30, xx - 30)
    disk = radius < 25
    dented = np.where(disk, np.minimum(1 - radius / 25, 0.6), 0.0)
    dented[np.abs(xx - 30) < 2] *= 0.8
    foreground = disk.astype(np.float32)
    assert instances_from_maps(foreground, dented, seed_threshold=0.5).max() == 2
    assert instances_from_maps(foreground, dented, seed_threshold=0.3, prominence=0.15).max() == 1


def test_targets_peak_at_one_in_each_object():
    truth = two_touching_disks()
    foreground, distance, _ = instance_targets(truth)
    assert np.array_equal(foreground > 0, truth > 0)
    for value in (1, 2):
        assert np.isclose(distance[truth == value].max(), 1.0)
    assert distance[truth == 0].max() == 0


def test_small_objects_are_removed_and_labels_are_consecutive():
    labels = np.zeros((20, 20), np.int32)
    labels[1:3, 1:3] = 5  # 4 pixels
    labels[10:15, 10:15] = 9  # 25 pixels
    out = remove_small_objects(labels, 10)
    assert set(np.unique(out)) == {0, 1} and (out == 1).sum() == 25
    assert out.dtype == np.uint16


def test_empty_maps_give_no_objects():
    zeros = np.zeros((16, 16), np.float32)
    assert instances_from_maps(zeros, zeros).max() == 0


def test_semantic_labels_threshold_and_small_regions():
    probs = np.zeros((3, 30, 30), np.float32)
    probs[0] = 1.0
    probs[:, 5:15, 5:15] = [[[0.1]], [[0.8]], [[0.1]]]
    probs[:, 20:22, 20:22] = [[[0.1]], [[0.1]], [[0.8]]]
    labels = semantic_from_probabilities(probs, threshold=0.5, min_size=10)
    assert (labels == 1).sum() == 100 and (labels == 2).sum() == 0
    assert semantic_objects(labels, ["bg", "a", "b"]).count == 1


def test_single_region_keeps_the_largest_region_of_each_class_with_holes_filled():
    probs = np.zeros((3, 40, 40), np.float32)
    probs[0] = 1.0
    probs[:, 5:25, 5:15] = [[[0.1]], [[0.8]], [[0.1]]]  # left lung, 200 px
    probs[:, 10:13, 8:11] = [[[0.8]], [[0.1]], [[0.1]]]  # a hole in it
    probs[:, 30:34, 5:9] = [[[0.1]], [[0.8]], [[0.1]]]  # a stray 16 px blob of the same class
    probs[:, 5:25, 25:35] = [[[0.1]], [[0.1]], [[0.8]]]  # right lung
    labels = semantic_from_probabilities(probs, threshold=0.0, single_region=True)
    assert (labels == 1).sum() == 200 and (labels[30:34, 5:9] == 0).all()
    assert (labels == 2).sum() == 200
    assert semantic_objects(labels, ["bg", "left", "right"]).count == 2
    unchanged = semantic_from_probabilities(probs, threshold=0.0)
    assert (unchanged == 1).sum() == 200 - 9 + 16


def test_contact_band_marks_where_objects_touch_and_nothing_else():
    truth = two_touching_disks()
    band = instance_targets(truth)[2] > 0
    columns = np.nonzero(band.any(axis=0))[0]
    assert band.any() and columns.min() >= 36 and columns.max() <= 42  # the disks touch at x = 39-40
    single = np.where(truth == 1, 1, 0)
    assert not instance_targets(single)[2].any()

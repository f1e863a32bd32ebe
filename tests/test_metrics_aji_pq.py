"""AJI and panoptic quality on hand-made label images whose values are worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from medseg_core.metrics import ObjectMetricAccumulator, aggregated_jaccard_index, object_metrics

# Two true objects on a 4 x 10 image: A = columns 0-3 (16 px), B = columns 6-9 (16 px).
TRUTH = np.zeros((4, 10), np.int32)
TRUTH[:, 0:4] = 1
TRUTH[:, 6:10] = 2


def pq50(pred: np.ndarray, truth: np.ndarray) -> float:
    acc = ObjectMetricAccumulator((0.5,))
    acc.add(pred, truth)
    return acc.result()["pq"]


def test_perfect_prediction():
    pred = TRUTH * 7  # other label values, same objects
    assert aggregated_jaccard_index(pred, TRUTH) == 1.0
    assert pq50(pred, TRUTH) == 1.0


def test_one_object_split_in_two():
    pred = TRUTH.copy()
    pred[:, 2:4] = 3  # A split into 8 + 8 px
    # AJI: A pairs with one half (IoU 8/16, both halves tie; the first wins): C = 8 + 16,
    # U = 16 + 16 (A's union is A itself) + 8 (the other half, unpaired) = 40 -> 24/40
    assert aggregated_jaccard_index(pred, TRUTH) == pytest.approx(24 / 40)
    # PQ@0.5: IoU 0.5 is not above the threshold... the matcher takes IoU >= 0.5: one half matches A
    # TP = 2 (A-half with IoU 0.5, B with 1.0), FP = 1, FN = 0: DQ = 2 / (2 + 0.5) = 0.8, SQ = 0.75
    assert pq50(pred, TRUTH) == pytest.approx(0.8 * 0.75)


def test_two_objects_merged():
    pred = np.zeros_like(TRUTH)
    pred[:, 0:10] = 1  # one object over A, the gap and B: 40 px
    # AJI: A and B both pair with it (IoU 16/40 each): C = 32, U = 40 + 40 = 80 -> 0.4
    assert aggregated_jaccard_index(pred, TRUTH) == pytest.approx(32 / 80)
    # PQ@0.5: no pair reaches IoU 0.5 -> TP 0, PQ 0
    assert pq50(pred, TRUTH) == 0.0


def test_one_object_missed():
    pred = np.where(TRUTH == 1, 1, 0)
    # AJI: C = 16, U = 16 + 16 (B, unpaired) = 32 -> 0.5
    assert aggregated_jaccard_index(pred, TRUTH) == 0.5
    # PQ: TP 1 (IoU 1), FN 1: DQ = 1 / 1.5, SQ = 1
    assert pq50(pred, TRUTH) == pytest.approx(2 / 3)


def test_one_false_object():
    pred = TRUTH.copy()
    pred[0, 4:6] = 9  # 2 px of nothing
    # AJI: C = 32, U = 32 + 2 -> 32/34
    assert aggregated_jaccard_index(pred, TRUTH) == pytest.approx(32 / 34)


def test_empty_prediction_and_empty_truth():
    empty = np.zeros_like(TRUTH)
    assert aggregated_jaccard_index(empty, TRUTH) == 0.0
    assert pq50(empty, TRUTH) == 0.0
    assert aggregated_jaccard_index(TRUTH, empty) == 0.0
    assert pq50(TRUTH, empty) == 0.0
    assert aggregated_jaccard_index(empty, empty) == 1.0


def test_aji_and_pq_are_means_over_images():
    acc = ObjectMetricAccumulator((0.5,))
    acc.add(TRUTH, TRUTH)  # AJI 1, PQ 1
    acc.add(np.where(TRUTH == 1, 1, 0), TRUTH)  # AJI 0.5, PQ 2/3
    acc.add(np.zeros_like(TRUTH), np.zeros_like(TRUTH))  # nothing anywhere: left out
    result = acc.result()
    assert result["aji"] == pytest.approx(0.75)
    assert result["pq"] == pytest.approx((1 + 2 / 3) / 2)
    assert object_metrics(TRUTH, TRUTH)["aji"] == 1.0


def brute_force_aji(pred: np.ndarray, truth: np.ndarray) -> float:
    """AJI straight from its definition, one object at a time."""
    c = u = 0
    used = set()
    for g in np.unique(truth[truth > 0]):
        gm = truth == g
        best, best_iou = None, -1.0
        for s in np.unique(pred[gm & (pred > 0)]):
            sm = pred == s
            iou = (gm & sm).sum() / (gm | sm).sum()
            if iou > best_iou:
                best, best_iou = s, iou
        if best is None:
            u += gm.sum()
            continue
        sm = pred == best
        c += (gm & sm).sum()
        u += (gm | sm).sum()
        used.add(best)
    for s in np.unique(pred[pred > 0]):
        if s not in used:
            u += (pred == s).sum()
    return c / u


@pytest.mark.parametrize("seed", range(5))
def test_aji_equals_its_definition_on_random_blobs(seed):
    from skimage.measure import label
    from skimage.morphology import dilation, disk

    rng = np.random.default_rng(seed)
    def blobs():
        points = np.zeros((64, 64), bool)
        points[tuple(rng.integers(0, 64, (2, 12)))] = True
        return label(dilation(points, disk(int(rng.integers(2, 5)))))
    pred, truth = blobs(), blobs()
    assert aggregated_jaccard_index(pred, truth) == pytest.approx(brute_force_aji(pred, truth))

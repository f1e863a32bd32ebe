"""Tests of medseg_core.metrics: hand-worked cases, reference libraries, invariants."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn import metrics as skm
from torchmetrics.functional import classification as tmf

from medseg_core.errors import InputError
from medseg_core.metrics import (
    DSB_THRESHOLDS,
    ObjectMetricAccumulator,
    PixelMetricAccumulator,
    confusion_matrix,
    dice,
    match_instances,
    object_metrics,
    pixel_metrics,
)

SCORES = ("precision", "recall", "f1", "iou")


# --------------------------------------------------------------------------- helpers


def random_instances(rng: np.random.Generator, shape=(48, 48), n=12, max_size=12) -> np.ndarray:
    """Instance labels 1..n painted as random rectangles (later ones on top)."""
    labels = np.zeros(shape, np.int32)
    for k in range(1, n + 1):
        h, w = rng.integers(2, max_size, size=2)
        y = rng.integers(0, shape[0] - h + 1)
        x = rng.integers(0, shape[1] - w + 1)
        labels[y : y + h, x : x + w] = k
    return labels


def perturb(rng: np.random.Generator, labels: np.ndarray) -> np.ndarray:
    """A plausible prediction: shift the image, drop an object, add one, merge two."""
    pred = np.roll(labels, tuple(rng.integers(-2, 3, size=2)), axis=(0, 1)).copy()
    ids = np.unique(pred[pred > 0])
    if ids.size > 2:
        pred[pred == ids[0]] = 0  # dropped
        pred[pred == ids[1]] = ids[2]  # merged
    pred[:3, -3:] = pred.max() + 1  # spurious
    return pred


def sparse_relabel(rng: np.random.Generator, labels: np.ndarray, dtype=np.int64, offset=10**6) -> np.ndarray:
    """The same objects under random, non-consecutive labels."""
    top = int(labels.max())
    lut = np.zeros(top + 1, dtype=dtype)
    lut[1:] = rng.permutation(top) * 7919 + offset
    return lut[labels]


def iou_brute(pred: np.ndarray, true: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dense IoU matrix by one mask per object (slow, obviously correct)."""
    p_ids = np.unique(pred[pred > 0])
    t_ids = np.unique(true[true > 0])
    iou = np.zeros((p_ids.size, t_ids.size))
    for i, p in enumerate(p_ids):
        for j, t in enumerate(t_ids):
            a, b = pred == p, true == t
            iou[i, j] = np.logical_and(a, b).sum() / np.logical_or(a, b).sum()
    return p_ids, t_ids, iou


def best_matching_brute(iou: np.ndarray, threshold: float) -> tuple[int, float]:
    """(most matches, largest total IoU among those) by trying every assignment."""
    n_p, n_t = iou.shape
    ok = (iou >= threshold) & (iou > 0)
    best = (0, 0.0)
    small, large = (n_p, n_t) if n_p <= n_t else (n_t, n_p)
    for perm in itertools.permutations(range(large), small):
        pairs = [(i, j) if n_p <= n_t else (j, i) for i, j in enumerate(perm)]
        chosen = [iou[i, j] for i, j in pairs if ok[i, j]]
        cand = (len(chosen), float(sum(chosen)))
        if cand[0] > best[0] or (cand[0] == best[0] and cand[1] > best[1] + 1e-12):
            best = cand
    return best


def sk_expected(yt: np.ndarray, yp: np.ndarray) -> dict[str, float]:
    """scikit-learn scores of one binary problem under our 0/0 convention."""
    zd = 1.0 if not yt.any() and not yp.any() else 0.0
    return {
        "precision": skm.precision_score(yt, yp, zero_division=zd),
        "recall": skm.recall_score(yt, yp, zero_division=zd),
        "f1": skm.f1_score(yt, yp, zero_division=zd),
        "iou": skm.jaccard_score(yt, yp, zero_division=zd),
    }


# --------------------------------------------------------------------------- pixel metrics: by hand


def test_pixel_metrics_binary_by_hand():
    pred = np.array([[0, 1], [1, 1]])
    target = np.array([[0, 1], [0, 1]])
    # foreground: TP = 2 (right column), FP = 1 (bottom left), FN = 0; TN = 1
    m = pixel_metrics(pred, target)
    assert m["accuracy"] == pytest.approx(3 / 4)
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(1.0)
    assert m["f1"] == pytest.approx(2 * 2 / (2 * 2 + 1))  # 0.8
    assert m["iou"] == pytest.approx(2 / 3)
    # background as a class: TP = 1, FP = 0, FN = 1
    bg = m["per_class"][0]
    assert (bg["precision"], bg["recall"]) == pytest.approx((1.0, 0.5))
    assert (bg["f1"], bg["iou"]) == pytest.approx((2 / 3, 1 / 2))
    assert m["per_class"][1] == pytest.approx({k: m[k] for k in SCORES})
    assert m["macro_f1"] == pytest.approx(m["f1"])


def test_pixel_metrics_multiclass_by_hand():
    target = np.array([0, 1, 1, 2, 2, 2])
    pred = np.array([0, 1, 2, 2, 2, 0])
    cm = confusion_matrix(pred, target, 3)
    # rows = target, columns = prediction
    np.testing.assert_array_equal(cm, [[1, 0, 0], [0, 1, 1], [1, 0, 2]])
    assert cm.dtype == np.int64
    m = pixel_metrics(pred, target, 3)
    assert m["accuracy"] == pytest.approx(4 / 6)
    # class 1: TP 1, FP 0, FN 1 -> P 1, R 1/2, F1 2/3, IoU 1/2
    assert m["per_class"][1] == pytest.approx({"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "iou": 0.5})
    # class 2: TP 2, FP 1, FN 1 -> P 2/3, R 2/3, F1 2/3, IoU 1/2
    assert m["per_class"][2] == pytest.approx({"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "iou": 0.5})
    assert m["macro_f1"] == pytest.approx(2 / 3)
    # pooled foreground (pred > 0 vs target > 0): TP 4 (class 1->2 counts), FP 0, FN 1
    assert m["precision"] == pytest.approx(1.0)
    assert m["recall"] == pytest.approx(4 / 5)
    assert m["iou"] == pytest.approx(4 / 5)


def test_pixel_metrics_empty_conventions():
    zeros = np.zeros((3, 3), np.uint8)
    ones = np.ones((3, 3), np.uint8)
    both_empty = pixel_metrics(zeros, zeros)
    assert all(both_empty[k] == 1.0 for k in (*SCORES, "accuracy", "macro_f1"))
    missed = pixel_metrics(zeros, ones)  # nothing predicted, all present
    assert all(missed[k] == 0.0 for k in (*SCORES, "accuracy"))
    spurious = pixel_metrics(ones, zeros)  # all predicted, nothing present
    assert all(spurious[k] == 0.0 for k in SCORES)
    # a class absent from both is perfect, one absent from the prediction scores 0
    m = pixel_metrics(np.array([0, 1, 1]), np.array([0, 1, 3]), 4)
    assert m["per_class"][2] == {k: 1.0 for k in SCORES}
    assert m["per_class"][3] == {k: 0.0 for k in SCORES}
    empty = pixel_metrics(np.zeros((0, 4), int), np.zeros((0, 4), int))
    assert empty["accuracy"] == 1.0


def test_instance_labels_are_binarised_with_two_classes():
    rng = np.random.default_rng(1)
    true = random_instances(rng)
    pred = perturb(rng, true)
    assert pixel_metrics(pred, true) == pixel_metrics(pred > 0, true > 0)
    with pytest.raises(InputError, match="0..2"):
        pixel_metrics(pred, true, 3)


def test_pixel_input_errors():
    with pytest.raises(InputError, match="shape"):
        pixel_metrics(np.zeros((2, 2), int), np.zeros((2, 3), int))
    with pytest.raises(InputError, match="integer"):
        pixel_metrics(np.zeros(3, float), np.zeros(3, int))
    with pytest.raises(InputError):
        confusion_matrix(np.array([0, -1]), np.array([0, 0]), 2)
    with pytest.raises(ValueError):
        pixel_metrics(np.zeros(3, int), np.zeros(3, int), 1)


def test_dice():
    # |A| = 2, |B| = 2, |A & B| = 1
    assert dice(np.array([1, 1, 0, 0]), np.array([0, 1, 1, 0])) == pytest.approx(0.5)
    assert dice(np.zeros(4, bool), np.zeros(4, bool)) == 1.0
    assert dice(np.array([0.0, 1.0]), np.array([0.0, 1.0])) == 1.0  # float masks are fine
    assert dice(np.zeros(4, int), np.ones(4, int)) == 0.0
    rng = np.random.default_rng(2)
    a, b = rng.integers(0, 3, (2, 20, 20))
    assert dice(a, b) == pytest.approx(pixel_metrics(a, b)["f1"])


# --------------------------------------------------------------------------- pixel metrics: references


@settings(max_examples=30, deadline=None)
@given(
    n_classes=st.integers(2, 5),
    data=st.data(),
)
def test_pixel_metrics_match_sklearn(n_classes, data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=7))
    values = hnp.arrays(np.int64, shape, elements=st.integers(0, n_classes - 1))
    pred, target = data.draw(values), data.draw(values)
    m = pixel_metrics(pred, target, n_classes)
    yt, yp = target.ravel(), pred.ravel()
    np.testing.assert_array_equal(
        confusion_matrix(pred, target, n_classes), skm.confusion_matrix(yt, yp, labels=range(n_classes))
    )
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(yt, yp))
    for c in range(n_classes):
        assert m["per_class"][c] == pytest.approx(sk_expected(yt == c, yp == c)), c
    assert {k: m[k] for k in SCORES} == pytest.approx(sk_expected(yt > 0, yp > 0))
    assert m["macro_f1"] == pytest.approx(np.mean([sk_expected(yt == c, yp == c)["f1"] for c in range(1, n_classes)]))


@pytest.mark.parametrize("n_classes", [2, 3, 5])
def test_pixel_metrics_match_torchmetrics(n_classes):
    rng = np.random.default_rng(n_classes)
    target = rng.integers(0, n_classes, (3, 40, 50))
    pred = np.where(rng.random(target.shape) < 0.7, target, rng.integers(0, n_classes, target.shape))
    m = pixel_metrics(pred, target, n_classes)
    p, t = torch.from_numpy(pred), torch.from_numpy(target)
    np.testing.assert_array_equal(
        confusion_matrix(pred, target, n_classes), tmf.multiclass_confusion_matrix(p, t, n_classes).numpy()
    )
    stats = tmf.multiclass_stat_scores(p, t, n_classes, average=None).numpy()  # tp, fp, tn, fn, support
    for c in range(n_classes):
        tp, fp, _, fn, _ = stats[c]
        assert m["per_class"][c]["iou"] == pytest.approx(tp / (tp + fp + fn))
    iou = tmf.multiclass_jaccard_index(p, t, n_classes, average=None).numpy()
    f1 = tmf.multiclass_f1_score(p, t, n_classes, average=None).numpy()
    prec = tmf.multiclass_precision(p, t, n_classes, average=None).numpy()
    rec = tmf.multiclass_recall(p, t, n_classes, average=None).numpy()
    for c in range(n_classes):
        got = m["per_class"][c]
        assert (got["iou"], got["f1"], got["precision"], got["recall"]) == pytest.approx(
            (iou[c], f1[c], prec[c], rec[c]), rel=1e-5
        )
    assert m["accuracy"] == pytest.approx(tmf.multiclass_accuracy(p, t, n_classes, average="micro").item(), rel=1e-6)
    assert m["macro_f1"] == pytest.approx(float(f1[1:].mean()), rel=1e-5)
    bp, bt = (p > 0).int(), (t > 0).int()
    assert (m["precision"], m["recall"], m["f1"], m["iou"]) == pytest.approx(
        (
            tmf.binary_precision(bp, bt).item(),
            tmf.binary_recall(bp, bt).item(),
            tmf.binary_f1_score(bp, bt).item(),
            tmf.binary_jaccard_index(bp, bt).item(),
        ),
        rel=1e-5,
    )


def test_pixel_accumulator_pools_like_concatenation():
    rng = np.random.default_rng(3)
    preds = [rng.integers(0, 3, s) for s in [(5, 6), (7, 4), (0, 3), (9, 9)]]
    targets = [rng.integers(0, 3, p.shape) for p in preds]
    targets[-1][:] = 0  # an image with one class only
    acc = PixelMetricAccumulator(3)
    for p, t in zip(preds, targets):
        acc.add(p, t)
    flat = lambda arrays: np.concatenate([a.ravel() for a in arrays])  # noqa: E731
    _nested_approx(acc.result(), pixel_metrics(flat(preds), flat(targets), 3))
    assert acc.n_images == 4
    np.testing.assert_array_equal(acc.confusion, confusion_matrix(flat(preds), flat(targets), 3))


def _nested_approx(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], dict):
            _nested_approx(a[key], b[key])
        else:
            assert a[key] == pytest.approx(b[key]), key


# --------------------------------------------------------------------------- object matching: by hand


def hand_pair() -> tuple[np.ndarray, np.ndarray]:
    true = np.zeros((8, 8), np.uint16)
    true[0:2, 0:2] = 1  # A: 4 px
    true[4, 0:4] = 2  # B: 4 px
    true[4, 7] = 3  # C: 1 px, never found
    pred = np.zeros((8, 8), np.uint16)
    pred[0:2, 0:3] = 10  # covers A: inter 4, union 6, IoU 2/3
    pred[4, 0:2] = 20  # half of B: inter 2, union 4, IoU 1/2
    pred[6, 6] = 30  # overlaps nothing
    return pred, true


def test_match_instances_by_hand():
    pred, true = hand_pair()
    m = match_instances(pred, true, 0.5)
    assert (m["tp"], m["fp"], m["fn"], m["n_pred"], m["n_true"]) == (2, 1, 1, 3, 3)
    np.testing.assert_allclose(m["matched_ious"], [2 / 3, 1 / 2])
    np.testing.assert_array_equal(m["matched_pred"], [10, 20])
    np.testing.assert_array_equal(m["matched_true"], [1, 2])
    # IoU 1/2 does not reach 0.51: only A is matched
    m = match_instances(pred, true, 0.51)
    assert (m["tp"], m["fp"], m["fn"]) == (1, 2, 2)


def test_object_metrics_by_hand():
    pred, true = hand_pair()
    r = object_metrics(pred, true, thresholds=(0.5, 0.6, 0.75))["thresholds"]
    # t = 0.5: TP 2 (IoU 2/3, 1/2), FP 1, FN 1
    # AP = 2/4, P = R = 2/3, F1 = RQ = 4/6, SQ = (2/3 + 1/2)/2 = 7/12, PQ = 7/12 * 2/3
    assert r[0.5] == pytest.approx(
        {"tp": 2, "fp": 1, "fn": 1, "ap": 0.5, "precision": 2 / 3, "recall": 2 / 3,
         "f1": 2 / 3, "rq": 2 / 3, "sq": 7 / 12, "pq": 7 / 18}
    )  # fmt: skip
    # t = 0.6: TP 1 (IoU 2/3), FP 2, FN 2: AP 1/5, F1 2/6, SQ 2/3, PQ 2/9
    assert r[0.6] == pytest.approx(
        {"tp": 1, "fp": 2, "fn": 2, "ap": 0.2, "precision": 1 / 3, "recall": 1 / 3,
         "f1": 1 / 3, "rq": 1 / 3, "sq": 2 / 3, "pq": 2 / 9}
    )  # fmt: skip
    # t = 0.75: nothing matched
    assert r[0.75] == pytest.approx(
        {"tp": 0, "fp": 3, "fn": 3, "ap": 0.0, "precision": 0.0, "recall": 0.0,
         "f1": 0.0, "rq": 0.0, "sq": 0.0, "pq": 0.0}
    )  # fmt: skip


def test_map_50_95_by_hand():
    # a 10 x 10 square shifted by one column: IoU = 90 / 110 = 0.818...
    true = np.zeros((12, 14), np.int32)
    true[1:11, 1:11] = 1
    pred = np.roll(true, 1, axis=1)
    res = object_metrics(pred, true)
    assert res["thresholds"][0.75]["sq"] == pytest.approx(90 / 110)
    assert res["thresholds"][0.9]["ap"] == 0.0
    # matched at 0.5, 0.55, ..., 0.8 (7 of the 10 DSB thresholds)
    assert res["map_50_95"] == pytest.approx(0.7)
    assert set(res["thresholds"]) == {0.5, 0.75, 0.9}


def test_dsb_thresholds():
    assert DSB_THRESHOLDS == (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
    assert set(ObjectMetricAccumulator().result()["thresholds"]) == set(DSB_THRESHOLDS)


def test_iou_exactly_at_threshold_matches():
    # 11 of 20 pixels shared: IoU = 0.55 exactly as a float, matched at 0.55
    true = np.zeros((1, 20), np.int32)
    true[0, :20] = 1
    pred = np.zeros((1, 20), np.int32)
    pred[0, :11] = 1
    assert object_metrics(pred, true, thresholds=DSB_THRESHOLDS)["thresholds"][0.55]["tp"] == 1
    assert object_metrics(pred, true, thresholds=DSB_THRESHOLDS)["thresholds"][0.6]["tp"] == 0


def test_matching_maximises_matches_not_greedy():
    # 1-D: T1 = [0, 10), T2 = [10, 14); P1 = [4, 14), P2 = [0, 4)
    # IoU(P1, T1) = 6/14 = 0.43, IoU(P1, T2) = 4/10, IoU(P2, T1) = 4/10.
    # Greedy on the best IoU pairs P1-T1 and leaves P2 alone (1 match);
    # the optimum pairs P1-T2 and P2-T1 (2 matches).
    true = np.array([1] * 10 + [2] * 4)
    pred = np.array([2] * 4 + [1] * 10)
    m = match_instances(pred, true, 0.35)
    assert (m["tp"], m["fp"], m["fn"]) == (2, 0, 0)
    np.testing.assert_allclose(m["matched_ious"], [0.4, 0.4])
    np.testing.assert_array_equal(m["matched_true"], [2, 1])


def test_tie_at_half_matches_once():
    # one 2-pixel prediction over two 1-pixel objects: both IoU = 1/2
    m = match_instances(np.array([[5, 5]]), np.array([[1, 2]]), 0.5)
    assert (m["tp"], m["fp"], m["fn"]) == (1, 0, 1)
    assert m["matched_ious"].tolist() == [0.5]


def test_empty_images():
    z = np.zeros((5, 5), np.int32)
    one = z.copy()
    one[1:3, 1:3] = 4
    m = match_instances(z, z)
    assert (m["tp"], m["fp"], m["fn"], m["matched_ious"].size) == (0, 0, 0, 0)
    perfect = object_metrics(z, z)
    assert all(v == 1.0 for v in perfect["thresholds"][0.5].values() if isinstance(v, float))
    assert perfect["map_50_95"] == 1.0
    missed = object_metrics(z, one)["thresholds"][0.5]
    assert (missed["fn"], missed["ap"], missed["precision"], missed["recall"], missed["pq"]) == (1, 0, 0, 0, 0)
    spurious = object_metrics(one, z)["thresholds"][0.5]
    assert (spurious["fp"], spurious["ap"], spurious["precision"], spurious["recall"]) == (1, 0, 0, 0)


def test_object_input_errors():
    with pytest.raises(InputError, match="shape"):
        match_instances(np.zeros((2, 2), int), np.zeros((2, 3), int))
    with pytest.raises(InputError, match="non-negative"):
        match_instances(np.array([0, -1]), np.array([0, 1]))
    with pytest.raises(InputError, match="integer"):
        match_instances(np.zeros(3, np.float32), np.zeros(3, int))
    with pytest.raises(ValueError):
        match_instances(np.zeros(3, int), np.zeros(3, int), 1.5)
    with pytest.raises(ValueError):
        ObjectMetricAccumulator(thresholds=(0.5, -0.1))


# --------------------------------------------------------------------------- object matching: invariants


@pytest.mark.parametrize("seed", range(6))
def test_matching_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    true = random_instances(rng, shape=(20, 20), n=5, max_size=9)
    pred = random_instances(rng, shape=(20, 20), n=5, max_size=9)
    p_ids, t_ids, iou = iou_brute(pred, true)
    for threshold in (0.0, 0.1, 0.3, 0.5, 0.7):
        m = match_instances(pred, true, threshold)
        n_best, iou_best = best_matching_brute(iou, threshold)
        assert m["tp"] == n_best, threshold
        assert m["matched_ious"].sum() == pytest.approx(iou_best)
        # every reported pair has the reported IoU
        for p, t, v in zip(m["matched_pred"], m["matched_true"], m["matched_ious"]):
            assert iou[np.searchsorted(p_ids, p), np.searchsorted(t_ids, t)] == pytest.approx(v)
            assert v >= threshold


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), threshold=st.sampled_from([0.0, 0.2, 0.5, 0.75]))
def test_swapping_pred_and_true_swaps_fp_and_fn(seed, threshold):
    rng = np.random.default_rng(seed)
    true = random_instances(rng, n=int(rng.integers(0, 15)))
    pred = perturb(rng, true)
    ab = match_instances(pred, true, threshold)
    ba = match_instances(true, pred, threshold)
    assert (ab["tp"], ab["fp"], ab["fn"]) == (ba["tp"], ba["fn"], ba["fp"])
    np.testing.assert_allclose(np.sort(ab["matched_ious"]), np.sort(ba["matched_ious"]))


@pytest.mark.parametrize("seed", range(4))
def test_perfect_prediction_under_any_labels(seed):
    rng = np.random.default_rng(seed)
    true = random_instances(rng)
    pred = sparse_relabel(rng, true, dtype=np.uint64, offset=2**40)  # beyond any lookup table
    res = object_metrics(pred, true, thresholds=DSB_THRESHOLDS)
    n = np.unique(true[true > 0]).size
    for t in DSB_THRESHOLDS:
        assert res["thresholds"][t] == pytest.approx(
            {"tp": n, "fp": 0, "fn": 0, "ap": 1, "precision": 1, "recall": 1, "f1": 1, "pq": 1, "sq": 1, "rq": 1}
        )
    assert res["map_50_95"] == 1.0
    m = match_instances(pred, true)
    # labels come back as given
    lut = {int(t): int(p) for p, t in zip(pred.ravel(), true.ravel()) if t}
    assert [lut[int(t)] for t in m["matched_true"]] == m["matched_pred"].tolist()


@pytest.mark.parametrize("seed", range(5))
def test_relabelling_changes_nothing(seed):
    rng = np.random.default_rng(seed)
    true = random_instances(rng)
    pred = perturb(rng, true)
    base = object_metrics(pred, true, thresholds=DSB_THRESHOLDS)
    for dtype, offset in ((np.int64, 3), (np.uint32, 70_000), (np.int64, 2**45)):
        again = object_metrics(sparse_relabel(rng, pred, dtype, offset), sparse_relabel(rng, true, dtype, offset + 1))
        again_all = object_metrics(
            sparse_relabel(rng, pred, dtype, offset), sparse_relabel(rng, true, dtype, offset), DSB_THRESHOLDS
        )
        assert again["map_50_95"] == pytest.approx(base["map_50_95"])
        _nested_approx(again_all["thresholds"], base["thresholds"])


def test_non_consecutive_labels_by_hand():
    true = np.zeros((6, 6), np.uint32)
    true[0:2, 0:2] = 7
    true[3:6, 3:6] = 4_000_000_000
    pred = np.zeros((6, 6), np.int64)
    pred[0:2, 0:2] = 2**50
    pred[3:6, 3:5] = 3
    m = match_instances(pred, true, 0.5)
    # 2**50 <-> 7 with IoU 1; 3 <-> 4e9 with IoU 6/9
    assert m["tp"] == 2
    np.testing.assert_array_equal(m["matched_pred"], [3, 2**50])
    np.testing.assert_array_equal(m["matched_true"], [4_000_000_000, 7])
    np.testing.assert_allclose(m["matched_ious"], [6 / 9, 1.0])


def test_shifting_objects_lowers_iou():
    true = np.zeros((40, 40), np.int32)
    true[5:15, 5:15] = 1
    true[20:35, 20:35] = 2
    previous = np.array([1.0, 1.0])
    for shift in range(1, 6):
        m = match_instances(np.roll(true, shift, axis=0), true, 0.0)
        ious = m["matched_ious"]
        assert np.all(ious < previous)
        # a k x k square shifted by s rows: IoU = k (k - s) / (k (k + s))
        np.testing.assert_allclose(ious, [(10 - shift) / (10 + shift), (15 - shift) / (15 + shift)])
        previous = ious


def test_nd_labels():
    rng = np.random.default_rng(7)
    true = np.stack([random_instances(rng, (16, 16), 4, 6) + 10 * z for z in range(3)])
    true[true % 10 == 0] = 0
    res = match_instances(true, true)
    assert res["tp"] == res["n_true"] == np.unique(true[true > 0]).size


# --------------------------------------------------------------------------- accumulator


def test_accumulator_pools_like_concatenation():
    rng = np.random.default_rng(11)
    trues = [random_instances(rng, n=int(rng.integers(0, 12))) for _ in range(5)]
    preds = [perturb(rng, t) for t in trues]
    trues.append(np.zeros((48, 48), np.int32))  # empty vs empty adds nothing
    preds.append(np.zeros((48, 48), np.int32))
    acc = ObjectMetricAccumulator()
    for p, t in zip(preds, trues):
        acc.add(p, t)
    pooled = acc.result()
    assert pooled["n_images"] == 6

    def side_by_side(images):
        # distinct labels per image, a background column so no objects touch
        out, offset = [], 0
        for im in images:
            out.append(np.where(im > 0, im + offset, 0))
            out.append(np.zeros((im.shape[0], 1), np.int64))
            offset += int(im.max()) + 1
        return np.concatenate(out, axis=1)

    whole = object_metrics(side_by_side(preds), side_by_side(trues), thresholds=DSB_THRESHOLDS)
    _nested_approx(pooled["thresholds"], whole["thresholds"])
    assert pooled["map_50_95"] == pytest.approx(whole["map_50_95"])
    assert (pooled["n_pred"], pooled["n_true"]) == (whole["n_pred"], whole["n_true"])

    only_empty = ObjectMetricAccumulator(thresholds=(0.5,))
    only_empty.add(np.zeros((4, 4), int), np.zeros((4, 4), int))
    assert only_empty.result()["thresholds"][0.5]["ap"] == 1.0


def test_many_objects_on_a_large_image():
    # 64 x 64 grid of 30 x 30 squares = 4096 objects on 2048 x 2048, shifted by 3 columns
    true = np.zeros((2048, 2048), np.int32)
    grid = np.arange(1, 64 * 64 + 1, dtype=np.int32).reshape(64, 64)
    cell = np.zeros((32, 32), bool)
    cell[1:31, 1:31] = True
    true = np.where(np.tile(cell, (64, 64)), np.kron(grid, np.ones((32, 32), np.int32)), 0)
    pred = sparse_relabel(np.random.default_rng(0), np.roll(true, 3, axis=1), np.int64, 10**7)
    m = match_instances(pred, true, 0.5)
    assert m["tp"] == 4096
    np.testing.assert_allclose(m["matched_ious"], 27 / 33)


def test_max_f_score_is_sklearn_f1_at_the_best_threshold_pooled_over_images():
    from sklearn.metrics import f1_score

    from medseg_core.metrics import ISBI_THRESHOLDS, MaxFScoreAccumulator

    rng = np.random.default_rng(3)
    truths = [rng.random((20, 30)) > 0.3 for _ in range(3)]
    probs = [np.clip(t * 0.6 + rng.random(t.shape) * 0.5, 0, 1) for t in truths]
    acc = MaxFScoreAccumulator()
    for p, t in zip(probs, truths):
        acc.add(p, t)
    result = acc.result()
    flat_p, flat_t = np.concatenate([p.ravel() for p in probs]), np.concatenate([t.ravel() for t in truths])
    expected = {t: f1_score(flat_t, flat_p > t) for t in ISBI_THRESHOLDS}
    assert result["f1"] == pytest.approx(expected)
    assert result["best_f1"] == pytest.approx(max(expected.values()))
    assert result["pixel_error"] == pytest.approx(1 - max(expected.values()))
    assert 0.0 < result["best_threshold"] < 0.9  # a real optimum, not an end of the range
    with pytest.raises(InputError):
        acc.add(np.zeros((2, 2)), np.zeros((3, 3)))

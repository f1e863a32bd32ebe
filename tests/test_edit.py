"""Tests of the pure label-editing functions in medseg_core.edit."""

from __future__ import annotations

import numpy as np
import pytest

from medseg_core import edit
from medseg_core.errors import InputError, MedsegError


@pytest.fixture
def labels() -> np.ndarray:
    out = np.zeros((20, 30), dtype=np.uint16)
    out[2:8, 2:10] = 1  # 48 px
    out[2:8, 15:25] = 2  # 60 px
    out[12:14, 3:5] = 3  # 4 px
    out[11:19, 12:28] = 7  # 128 px, with a hole
    out[14:16, 18:20] = 0
    return out


def test_functions_do_not_modify_their_input(labels):
    before = labels.copy()
    edit.delete_object(labels, 1)
    edit.merge_objects(labels, 1, 2)
    edit.split_object(labels, 2, [(0, 20), (10, 20)])
    edit.remove_small_objects(labels, 10)
    edit.fill_holes(labels)
    edit.relabel_sequential(labels)
    np.testing.assert_array_equal(labels, before)


def test_delete_object(labels):
    out = edit.delete_object(labels, 2)
    assert not (out == 2).any()
    assert out.dtype == labels.dtype
    np.testing.assert_array_equal(out[labels != 2], labels[labels != 2])
    np.testing.assert_array_equal(edit.delete_object(labels, 0), labels)


def test_merge_objects(labels):
    out = edit.merge_objects(labels, 3, 1)
    assert not (out == 3).any()
    assert (out == 1).sum() == 48 + 4
    with pytest.raises(InputError):
        edit.merge_objects(labels, 99, 1)
    with pytest.raises(MedsegError):
        edit.merge_objects(labels, 1, 0)


def test_split_object_keeps_area_and_makes_new_label(labels):
    out = edit.split_object(labels, 2, [(1, 20), (9, 20)])
    assert set(np.unique(out)) == {0, 1, 2, 3, 7, 8}
    assert ((out == 2) | (out == 8)).sum() == 60
    # everything else untouched
    np.testing.assert_array_equal(out[labels != 2], labels[labels != 2])
    # the largest piece keeps its label: columns 15..19 vs 20..24 (+ cut column)
    assert (out[2:8, 15:20] == 2).all() or (out[2:8, 21:25] == 2).all()


def test_split_object_line_short_of_the_edge_still_cuts(labels):
    out = edit.split_object(labels, 1, [(4, 6), (5, 6)])  # both ends inside
    assert len(np.unique(out[labels == 1])) == 2


def test_split_object_diagonal_and_polyline(labels):
    out = edit.split_object(labels, 7, [(10, 14), (19, 26)])
    assert len(np.unique(out[labels == 7])) == 2
    out = edit.split_object(labels, 7, [(10, 15), (15, 15), (15, 29)])
    assert len(np.unique(out[labels == 7])) == 2


def test_split_object_errors(labels):
    with pytest.raises(InputError, match="does not cut"):
        edit.split_object(labels, 1, [(0, 28), (19, 28)])
    with pytest.raises(InputError):
        edit.split_object(labels, 1, [(0, 5)])
    with pytest.raises(InputError):
        edit.split_object(labels, 42, [(0, 5), (10, 5)])
    with pytest.raises(InputError):
        edit.split_object(labels[None], 1, [(0, 5), (10, 5)])


def test_remove_small_objects(labels):
    out = edit.remove_small_objects(labels, 10)
    assert set(np.unique(out)) == {0, 1, 2, 7}
    np.testing.assert_array_equal(edit.remove_small_objects(labels, 0), labels)


def test_fill_holes(labels):
    out = edit.fill_holes(labels)
    assert (out[14:16, 18:20] == 7).all()
    assert (out == 7).sum() == 128
    # background touching two objects is not a hole of either
    pair = np.zeros((5, 9), dtype=np.uint8)
    pair[:, :4] = 1
    pair[:, 5:] = 2
    np.testing.assert_array_equal(edit.fill_holes(pair), pair)
    stack = edit.fill_holes(np.stack([labels, labels]))
    assert (stack[:, 14:16, 18:20] == 7).all()


def test_relabel_sequential(labels):
    out = edit.relabel_sequential(labels)
    assert set(np.unique(out)) == {0, 1, 2, 3, 4}
    assert out.dtype == labels.dtype
    assert ((out == 4) == (labels == 7)).all()


def test_label_at_and_next_label(labels):
    assert edit.label_at(labels, (3.2, 4.4)) == 1
    assert edit.label_at(labels, (-1, 4)) == 0
    assert edit.label_at(labels, (3, 400)) == 0
    assert edit.next_label(labels) == 8
    assert edit.next_label(np.zeros((2, 2), np.uint8)) == 1


def test_changes_roundtrip(labels):
    new = edit.merge_objects(labels, 3, 1)
    idx, values = edit.changes(labels, new)
    rebuilt = labels.copy()
    rebuilt[idx] = values
    np.testing.assert_array_equal(rebuilt, new)
    assert len(idx[0]) == 4
    with pytest.raises(InputError):
        edit.changes(labels, labels[:5])


def test_float_labels_are_refused():
    with pytest.raises(InputError):
        edit.delete_object(np.zeros((3, 3), float), 1)

"""Qt-free fine-tuning helpers: sources from arrays and folders, splits, names."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
import tifffile
from imageio.v3 import imwrite

from conftest import make_tiny_model, synthetic_nuclei
from medseg_core.errors import InputError
from medseg_core.finetune_data import (
    check_pair_shapes,
    compare_metrics,
    count_objects,
    default_model_name,
    format_seconds,
    match_labels_name,
    plan_validation,
    plotted_metrics,
    prepare_sources,
    sources_from_arrays,
    sources_from_folder,
    verdict,
)
from medseg_core.progress import drain


def test_count_objects_ignores_background():
    assert count_objects(np.array([[0, 0], [0, 0]])) == 0
    assert count_objects(np.array([[0, 5], [7, 7]])) == 2
    assert count_objects(np.array([[1, 2]])) == 2


def test_count_objects_counts_negative_labels_and_never_the_background():
    assert count_objects(np.array([[-1, 0], [3, 3]])) == 2  # counted 0 as an object before
    assert count_objects(np.array([[-2, -1]])) == 2
    assert count_objects(np.array([[True, False]])) == 1
    assert count_objects(np.zeros((0, 4), np.uint16)) == 0


def test_match_labels_name_prefers_the_convention():
    assert match_labels_name("a", ["a_mask", "a labels"]) == "a labels"
    assert match_labels_name("Cells", ["cells-Labels"]) == "cells-Labels"
    assert match_labels_name("a", ["ab labels", "labels"]) is None


def test_shapes_must_match_with_a_clear_message():
    check_pair_shapes((10, 12, 3), (10, 12), rgb=True)
    with pytest.raises(InputError, match="'img' is 10x12 but labels 'lab' are 10x11"):
        check_pair_shapes((10, 12), (10, 11), name="img", labels_name="lab")
    with pytest.raises(InputError, match="only 2-D images"):
        check_pair_shapes((2, 3, 10, 12), (2, 3, 10, 12))


def test_sources_from_arrays_copy_and_split_stacks():
    image, labels = synthetic_nuclei(size=32, n=2)
    (source,) = sources_from_arrays("a", image, labels)
    image[:] = 0
    assert source.image.max() > 0 and source.n_objects == count_objects(labels)
    stack = np.zeros((3, 32, 32), np.uint8)
    stack[0, 2:5, 2:5] = 1
    stack[2, 8:12, 8:12] = 2
    sources = sources_from_arrays("vol", np.ones((3, 32, 32)), stack)
    assert [s.name for s in sources] == ["vol [z=0]", "vol [z=2]"]
    assert {s.group for s in sources} == {"vol"}
    with pytest.raises(InputError, match="integers"):
        sources_from_arrays("a", image, labels.astype(float))


def test_plan_validation_rules():
    sources = [sources_from_arrays(str(i), *synthetic_nuclei(size=32, n=2, seed=i))[0] for i in range(10)]
    plan = plan_validation(sources[:4], 0.2)
    assert len(plan.train) == 3 and len(plan.val) == 1 and not plan.reuses_training
    assert "3 training / 1 validation images" in plan.summary()
    assert plan.summary().startswith("4 pairs")
    # from five images on, two are held back (one image of one kind chose epochs badly); a fraction rules above
    assert [len(plan_validation(sources[:n], 0.2).val) for n in (5, 9, 10)] == [2, 2, 2]
    assert len(plan_validation(sources, 0.4).val) == 4
    assert plan_validation(sources[:5], 0.0).reuses_training  # no hold-out asked: none made
    single = plan_validation(sources[:1], 0.2)
    assert single.reuses_training and single.val is single.train
    assert "validation scores the training images" in single.note
    folder = plan_validation(sources[:2], 0.2, val_sources=sources[2:5])
    assert len(folder.train) == 2 and len(folder.val) == 3
    with pytest.raises(InputError, match="no training data"):
        plan_validation([], 0.2)


def test_sources_from_folder_and_prepare(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    for i in range(2):
        image, labels = synthetic_nuclei(size=48, n=3, seed=i)
        imwrite(tmp_path / "images" / f"s{i}.png", (image.clip(0, 1) * 255).astype(np.uint8))
        tifffile.imwrite(tmp_path / "masks" / f"s{i}.tif", labels.astype(np.uint16))
    sources = sources_from_folder(tmp_path)
    assert [s.name for s in sources] == ["s0", "s1"]
    assert all(s.n_objects == 3 for s in sources)
    model = make_tiny_model()
    pairs = drain(prepare_sources(sources, model.info))
    assert pairs[0].image.shape == (3, 48, 48) and pairs[0].n_objects == 3


def test_names_metrics_and_durations():
    day = date(2026, 11, 26)
    assert default_model_name("nuclei", [], day) == "nuclei-2026-11-26"
    assert (
        default_model_name("nuclei", ["nuclei-2026-11-26", "nuclei-2026-11-26-2"], day)
        == "nuclei-2026-11-26-3"
    )
    assert plotted_metrics("instance")[-1] == "ap50" and "ap50" not in plotted_metrics("semantic")
    assert compare_metrics({}, {"ap50": 0.5, "f1": 0.4}) == [("F1", None, 0.4), ("AP@0.5", None, 0.5)]
    assert format_seconds(5) == "5 s" and format_seconds(3725) == "1 h 02 min" and format_seconds(None) == "?"


def test_verdict_warns_when_the_new_model_is_worse():
    assert verdict({"ap50": 0.4, "f1": 0.9}, {"ap50": 0.2, "f1": 0.95}).startswith(
        "The new model scores lower"
    )
    assert "0.400 -> 0.600" in verdict({"ap50": 0.4}, {"ap50": 0.6})
    assert "unchanged" in verdict({"f1": 0.5}, {"f1": 0.5})
    assert verdict({}, {"f1": 0.5}) == ""

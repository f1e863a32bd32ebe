"""Block-wise segmentation of large images: stitching, canonical numbers, same objects as whole-image."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import zarr
from skimage.draw import disk

from medseg_core.errors import InputError
from medseg_core.large import plan_blocks, segment_large_iter
from medseg_core.large.block import owned_objects
from medseg_core.large.stitch import canonical_numbers, compose_core, find_duplicates
from medseg_core.progress import drain
from medseg_core.segment import load_model, segment

BLOCK, HALO = 256, 64


def canonical(labels: np.ndarray) -> np.ndarray:
    """Renumber objects 1..N in raster order of their first pixel."""
    flat = labels.ravel()
    ids, first = np.unique(flat, return_index=True)
    keep = ids > 0
    ids, first = ids[keep], first[keep]
    lut = np.zeros(int(labels.max()) + 1, dtype=np.int64)
    lut[ids[np.argsort(first)]] = np.arange(1, ids.size + 1)
    return lut[labels]


def nuclei_image(height: int = 640, width: int = 704, seed: int = 0) -> np.ndarray:
    """Bright disks on a noisy background, including disks centred on block corners and edges."""
    rng = np.random.default_rng(seed)
    image = rng.normal(20, 5, (height, width))
    centres = [(int(rng.integers(12, height - 12)), int(rng.integers(12, width - 12))) for _ in range(110)]
    centres += [(y, x) for y in range(BLOCK, height, BLOCK) for x in range(BLOCK, width, BLOCK)]  # corners of 4 blocks
    centres += [(BLOCK + 3, 100), (300, BLOCK - 2), (2 * BLOCK - 1, 620)]  # straddling edges
    mask = np.zeros((height, width), bool)
    for y, x in centres:
        rr, cc = disk((y, x), int(rng.integers(6, 10)), shape=image.shape)
        if mask[rr, cc].any():  # keep disks apart: the test is about stitching, not touching nuclei
            continue
        mask[rr, cc] = True
        image[rr, cc] += 110
    return np.clip(image, 0, 255).astype(np.uint8)


def disk_labels(height: int, width: int, seed: int = 1) -> np.ndarray:
    """Ground-truth labels: non-overlapping disks, several on block corners."""
    rng = np.random.default_rng(seed)
    labels = np.zeros((height, width), np.int32)
    centres = [(y, x) for y in range(BLOCK, height, BLOCK) for x in range(BLOCK, width, BLOCK)]
    centres += [(BLOCK, BLOCK + 40), (BLOCK - 30, BLOCK), (BLOCK + 1, 2 * BLOCK - 1)]
    centres += [tuple(int(v) for v in rng.integers(15, (height - 15, width - 15))) for _ in range(150)]
    n = 0
    for y, x in centres:
        rr, cc = disk((y, x), int(rng.integers(5, 14)), shape=labels.shape)
        if labels[rr, cc].any():
            continue
        n += 1
        labels[rr, cc] = n
    return labels


def stitch_labels(truth: np.ndarray, block: int = BLOCK, halo: int = HALO, seed: int = 2) -> np.ndarray:
    """Run ownership, de-duplication, numbering and composition on crops of ``truth``."""
    rng = np.random.default_rng(seed)
    plan = plan_blocks(*truth.shape, block, halo)
    found, labels = {}, {}
    for b in plan.blocks:
        y0, y1, x0, x1 = b.padded
        crop = truth[y0:y1, x0:x1]
        shuffled = np.concatenate([[0], rng.permutation(int(truth.max())) + 1])  # any local numbering
        objects = owned_objects(shuffled[crop], b, truth.shape)
        found[b.index], labels[b.index] = objects, objects.labels
    luts, count = canonical_numbers(found, find_duplicates(plan, found))
    out = np.zeros(truth.shape, np.int64)
    for b in plan.blocks:
        y0, y1, x0, x1 = b.core
        out[y0:y1, x0:x1] = compose_core(plan, b, luts, labels.get)
    assert count == len(np.unique(out)) - 1
    return out


def test_stitching_reproduces_objects_exactly_including_block_corners():
    truth = disk_labels(700, 650)
    stitched = stitch_labels(truth)
    assert np.array_equal(stitched, canonical(truth))


def test_stitching_is_independent_of_local_numbering():
    truth = disk_labels(530, 600, seed=5)
    assert np.array_equal(stitch_labels(truth, seed=3), stitch_labels(truth, seed=4))


def test_object_wider_than_the_halo_is_reported_as_cut():
    truth = np.zeros((512, 512), np.int32)
    rr, cc = disk((250, 250), 100, shape=truth.shape)
    truth[rr, cc] = 1
    plan = plan_blocks(512, 512, BLOCK, 32)
    cut = 0
    for b in plan.blocks:
        y0, y1, x0, x1 = b.padded
        cut += owned_objects(truth[y0:y1, x0:x1], b, truth.shape).cut
    assert cut >= 1


@pytest.mark.parametrize(("block", "halo"), [(100, 16), (256, 8), (64, 128), (0, 0)])
def test_bad_block_plan_is_refused(block, halo):
    with pytest.raises(InputError):
        plan_blocks(500, 500, block, halo)


@pytest.fixture(scope="module")
def nuclei():
    return load_model("nuclei", "cpu")


def match_iou(a: np.ndarray, b: np.ndarray) -> dict[int, float]:
    """Best IoU in ``b`` for every object of ``a``."""
    out = {}
    for obj in range(1, int(a.max()) + 1):
        mask = a == obj
        if not mask.any():
            continue
        hits, counts = np.unique(b[mask], return_counts=True)
        best = 0.0
        for h, c in zip(hits, counts):
            if h:
                best = max(best, c / np.logical_or(mask, b == h).sum())
        out[obj] = best
    return out


@pytest.mark.slow
def test_blocks_give_the_whole_image_objects(nuclei, tmp_path):
    image = nuclei_image()
    whole = segment(image, nuclei).labels
    records = []
    result = drain(
        segment_large_iter(image, nuclei, tmp_path / "l.zarr", tmp_path / "o.csv", block=BLOCK, halo=HALO),
        records.append,
    )
    blocks = zarr.open_group(str(tmp_path / "l.zarr"), mode="r")["0"][:]
    assert result.count == int(blocks.max()) == len(np.unique(blocks)) - 1
    assert result.failed == {} and result.cut == 0
    assert np.array_equal(blocks, canonical(blocks))  # numbers canonical
    # same objects: every whole-image object has a block-run twin with IoU >= 0.95, and back
    for a, b in ((whole, blocks), (blocks, whole)):
        ious = match_iou(a, b)
        for obj, iou in ious.items():
            mask = a == obj
            tiny_on_border = mask.sum() < 30 and (mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())
            assert iou >= 0.95 or tiny_on_border, (obj, iou)
    # objects on block corners and edges are whole: one label each, none cut at a core edge
    for y in range(BLOCK, image.shape[0], BLOCK):
        for x in range(BLOCK, image.shape[1], BLOCK):
            ids = np.unique(blocks[y - 3 : y + 3, x - 3 : x + 3])
            assert ids.size == 1 and ids[0] > 0
            assert match_iou((blocks == ids[0]).astype(np.int32), whole)[1] >= 0.95
    stages = {r.stage for r in records}
    assert {"levels", "blocks", "stitch", "write", "measure"} <= stages
    rows = (tmp_path / "o.csv").read_text().splitlines()
    assert len(rows) == result.count + 1
    labels_in_csv = sorted(int(r.split(",")[1]) for r in rows[1:])
    assert labels_in_csv == list(range(1, result.count + 1))
    # every pyramid level exists and keeps label values
    group = zarr.open_group(str(tmp_path / "l.zarr"), mode="r")
    assert group.attrs["multiscales"][0]["datasets"][0]["path"] == "0"


def test_level_windows_cover_small_images_and_sample_large_ones():
    from medseg_core.large.levels import GRID, WINDOW, sample_windows

    covered = np.zeros((700, 900), int)
    for y0, y1, x0, x1 in sample_windows(700, 900):
        covered[y0:y1, x0:x1] += 1
    assert (covered == 1).all()  # small: every pixel exactly once (the whole-image route's percentiles)
    big = sample_windows(50_000, 30_000)
    assert len(big) == GRID * GRID
    assert all(0 <= y0 < y1 <= 50_000 and 0 <= x0 < x1 <= 30_000 and y1 - y0 == WINDOW for y0, y1, x0, x1 in big)


def test_block_pixels_threshold_from_the_environment(monkeypatch, tmp_path):
    from medseg_core.errors import MedsegIOError
    from medseg_core.large.files import block_pixels, needs_blocks

    monkeypatch.setenv("MEDSEG_BLOCK_PIXELS", "2e4")
    assert block_pixels() == 20_000
    small = tmp_path / "small.tif"
    tifffile.imwrite(small, np.zeros((100, 150), np.uint8))
    assert not needs_blocks(small)  # 100 x 150 = 15,000 pixels
    monkeypatch.setenv("MEDSEG_BLOCK_PIXELS", "10000")
    assert needs_blocks(small)
    monkeypatch.setenv("MEDSEG_BLOCK_PIXELS", "lots")
    with pytest.raises(MedsegIOError, match="MEDSEG_BLOCK_PIXELS"):
        block_pixels()

"""Property tests of :func:`medseg_core.io.read_image`: it returns data or a MedsegIOError, nothing else."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from medseg_core.errors import MedsegIOError
from medseg_core.io import read_image

#: Raise for a deeper search, e.g. ``MEDSEG_HYPOTHESIS_EXAMPLES=2000 pytest tests/test_io_hypothesis.py``.
MAX_EXAMPLES = int(os.environ.get("MEDSEG_HYPOTHESIS_EXAMPLES", "50"))
SETTINGS = settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_PREFIXES = {  # a valid magic number makes the libraries go further into the random bytes
    ".tif": [b"", b"II*\x00", b"MM\x00*"],
    ".png": [b"", b"\x89PNG\r\n\x1a\n"],
    ".jpg": [b"", b"\xff\xd8\xff"],
    ".bmp": [b"", b"BM"],
    ".dcm": [b"", b"\x00" * 128 + b"DICM"],
    ".nii": [b"", b"\x5c\x01\x00\x00"],
}


@SETTINGS
@given(
    suffix=st.sampled_from(sorted(_PREFIXES)),
    prefix_index=st.integers(0, 2),
    body=st.binary(min_size=0, max_size=600),
)
def test_random_bytes_give_image_or_medseg_io_error(suffix, prefix_index, body):
    prefixes = _PREFIXES[suffix]
    data = prefixes[prefix_index % len(prefixes)] + body
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"random{suffix}"
        path.write_bytes(data)
        try:
            image = read_image(path)
        except MedsegIOError as exc:
            assert path.name in str(exc) and "\n" not in str(exc)
        else:
            assert image.array.ndim == len(image.meta.axes)


_DTYPES = st.sampled_from(["uint8", "uint16", "int16", "int32", "float32", "float64", "bool"])


@SETTINGS
@given(
    data=_DTYPES.flatmap(
        lambda dtype: hnp.arrays(
            dtype=dtype,
            shape=hnp.array_shapes(min_dims=2, max_dims=4, min_side=1, max_side=6),
            elements={"allow_nan": True, "allow_infinity": True} if dtype.startswith("float") else None,
        )
    )
)
def test_random_tiff_arrays_round_trip_or_refuse(data):
    # tifffile stores trailing singleton axes as part of the shape metadata only
    shape = list(data.shape)
    while len(shape) > 2 and shape[-1] == 1:
        shape.pop()
    stack = [n for n in shape[:-2] if n != 1]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "array.tif"
        tifffile.imwrite(path, data, photometric="minisblack")
        try:
            image = read_image(path)
        except MedsegIOError as exc:
            assert path.name in str(exc) and "\n" not in str(exc)
            assert min(shape[-2:]) < 2 or len(stack) > 1
            return
    expected = data.reshape(stack + shape[-2:])
    assert image.meta.axes == ("ZYX" if expected.ndim == 3 else "YX")
    assert image.array.shape == expected.shape
    np.testing.assert_array_equal(image.array, expected.astype(image.array.dtype))
    assert image.meta.original_dtype == str(data.dtype)

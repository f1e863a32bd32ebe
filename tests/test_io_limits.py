"""Image size limits, permission errors, and which exceptions the IO layer turns into MedsegIOError.

Images are refused from their header (decompression-bomb limit, free
memory) before decoding; a permission error has its own message; a bug in
MedSeg's own reader code propagates instead of being reported as a corrupt
file, and every library error keeps its cause.
"""

from __future__ import annotations

import builtins
import logging
import os
import struct
import time
import tracemalloc
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import tifffile
from PIL import Image

import medseg_core.io.limits as limits
from medseg_core.errors import MedsegIOError
from medseg_core.io import CorruptFile, ImageTooLarge, PermissionDenied, read_image, read_labels
from test_io import write_dicom

BIG = 50_000


def _tiff_declaring(path: Path, width: int, height: int) -> Path:
    """A 1.2 kB uncompressed TIFF whose header declares ``width`` x ``height`` 8-bit pixels."""
    entries = [
        (256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, 1), (262, 3, 1),
        (273, 4, 200), (277, 3, 1), (278, 4, height), (279, 4, width * height),
    ]  # fmt: skip
    ifd = struct.pack("<H", len(entries))
    for tag, kind, value in entries:
        field = struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value)  # SHORT or LONG
        ifd += struct.pack("<HHI", tag, kind, 1) + field
    head = b"II*\0" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0)
    path.write_bytes(head + b"\0" * (200 - len(head)) + b"\1" * 1000)
    return path


def _png_declaring(path: Path, width: int, height: int) -> Path:
    """A few-hundred-byte PNG whose header declares ``width`` x ``height`` gray pixels (a bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\0" * (width + 1) * 4)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b""))
    return path


def _refused_quickly(path: Path) -> MedsegIOError:
    """Read ``path``; return its ImageTooLarge after checking it took under 1 s and 100 MB."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ImageTooLarge) as info:
            read_image(path)
        seconds, peak = time.perf_counter() - start, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert seconds < 1.0 and peak < 100 * 2**20, (seconds, peak)
    message = str(info.value)
    assert path.name in message and "\n" not in message
    return info.value


# ---------------------------------------------------------------- decompression bombs and memory


def test_tiff_header_declaring_50000_squared_is_refused_before_decoding(tmp_path):
    error = _refused_quickly(_tiff_declaring(tmp_path / "huge.tif", BIG, BIG))
    assert "50000 x 50000 pixels" in str(error) and "decompression-bomb limit" in str(error)
    assert "MEDSEG_MAX_IMAGE_PIXELS" in str(error)


def test_png_bomb_is_refused_before_decoding(tmp_path):
    pillow_guard = Image.MAX_IMAGE_PIXELS
    error = _refused_quickly(_png_declaring(tmp_path / "bomb.png", 100_000, 100_000))
    assert "100000 x 100000 pixels" in str(error) and "MEDSEG_MAX_IMAGE_PIXELS" in str(error)
    assert Image.MAX_IMAGE_PIXELS == pillow_guard  # Pillow's own guard is left as it was


def test_the_environment_variable_sets_the_limit(tmp_path, monkeypatch):
    path = tmp_path / "zeros.png"
    Image.new("L", (3000, 2000)).save(path)
    monkeypatch.setenv("MEDSEG_MAX_IMAGE_PIXELS", "1_000_000")
    error = _refused_quickly(path)
    assert "limit of 1,000,000 pixels" in str(error)
    monkeypatch.setenv("MEDSEG_MAX_IMAGE_PIXELS", "6e6")
    assert read_image(path).array.shape == (2000, 3000)
    for bad in ("many", "0", "-5", "1.5"):
        monkeypatch.setenv("MEDSEG_MAX_IMAGE_PIXELS", bad)
        with pytest.raises(MedsegIOError, match="MEDSEG_MAX_IMAGE_PIXELS must be a whole number"):
            read_image(path)


def test_image_larger_than_free_memory_is_refused_with_its_size(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDSEG_MAX_IMAGE_PIXELS", str(3 * 10**9))
    monkeypatch.setattr(limits, "available_memory", lambda: 10**9)
    error = _refused_quickly(_tiff_declaring(tmp_path / "huge.tif", BIG, BIG))
    message = str(error)
    assert "image of shape (50000, 50000) and type uint8 takes 2.5 GB decoded" in message
    assert "only 1.0 GB of memory is available" in message


def _small_files(folder: Path) -> dict[str, Path]:
    folder.mkdir()
    image = np.arange(48, dtype=np.uint16).reshape(6, 8)
    tifffile.imwrite(folder / "a.tif", image)
    Image.fromarray(image.astype(np.uint8)).save(folder / "a.png")
    write_dicom(folder / "a.dcm", image)
    nib.save(nib.Nifti1Image(image[..., None], np.eye(4)), str(folder / "a.nii.gz"))
    series = folder / "series"
    series.mkdir()
    for i in range(3):
        write_dicom(series / f"s{i}.dcm", image, position=(0.0, 0.0, float(i)), instance=i + 1)
    return {p.name: p for p in (folder / "a.tif", folder / "a.png", folder / "a.dcm", folder / "a.nii.gz", series)}


def test_every_reader_checks_the_free_memory_before_decoding(tmp_path, monkeypatch):
    files = _small_files(tmp_path / "files")
    for path in files.values():
        assert read_image(path).array.size >= 48
    monkeypatch.setattr(limits, "available_memory", lambda: 10)
    for name, path in files.items():
        with pytest.raises(ImageTooLarge, match="of memory is available") as info:
            read_image(path)
        assert "6, 8" in str(info.value), name  # the declared shape is named


def test_available_memory_is_known_on_this_system():
    free = limits.available_memory()
    assert free is None or free > 0


@pytest.mark.slow
def test_a_legitimate_14000_squared_png_loads(tmp_path):
    side = 14_000
    free = limits.available_memory()
    if free is not None and free < 4 * side * side:
        pytest.skip("not enough free memory on this machine")
    image = Image.new("L", (side, side))
    image.paste(255, (1000, 2000, 3000, 2500))
    image.save(tmp_path / "slide.png", compress_level=1)
    del image
    pillow_guard = Image.MAX_IMAGE_PIXELS
    assert side * side > 2 * pillow_guard  # Pillow alone refuses it as a decompression bomb
    data = read_image(tmp_path / "slide.png")
    assert data.array.shape == (side, side) and data.array[2100, 1500] == 255 and data.array[0, 0] == 0
    assert Image.MAX_IMAGE_PIXELS == pillow_guard


# ---------------------------------------------------------------- permissions


def _deny(monkeypatch, denied: Path) -> None:
    """``open`` raises PermissionError for ``denied`` (as root, chmod does not stop reads)."""
    real_open = builtins.open

    def guarded_open(file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and Path(file) == denied:
            raise PermissionError(13, "Permission denied", os.fspath(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded_open)


@pytest.mark.parametrize("name", ["a.tif", "a.png", "a.dcm", "a.nii.gz"])
def test_permission_denied_has_its_own_message(tmp_path, monkeypatch, name):
    path = _small_files(tmp_path / "files")[name]
    _deny(monkeypatch, path)
    with pytest.raises(PermissionDenied) as info:
        read_image(path)
    message = str(info.value)
    assert message == f'Cannot read "{path}": permission denied; check that you may read it'
    assert isinstance(info.value.__cause__, (PermissionError, OSError))


def test_unreadable_dicom_folder_is_permission_denied(tmp_path, monkeypatch):
    folder = _small_files(tmp_path / "files")["series"]
    real_iterdir = Path.iterdir

    def iterdir(self):
        if self == folder:
            raise PermissionError(13, "Permission denied", str(self))
        return real_iterdir(self)

    monkeypatch.setattr(Path, "iterdir", iterdir)
    with pytest.raises(PermissionDenied, match="permission denied"):
        read_image(folder)


def test_bomb_permission_and_large_png_give_different_messages(tmp_path, monkeypatch):
    bomb = _png_declaring(tmp_path / "bomb.png", 100_000, 100_000)
    large = tmp_path / "large.png"
    Image.new("L", (4000, 3000)).save(large)
    denied = tmp_path / "denied.png"
    Image.new("L", (8, 8)).save(denied)
    _deny(monkeypatch, denied)
    messages = []
    for path in (bomb, denied):
        with pytest.raises(MedsegIOError) as info:
            read_image(path)
        messages.append(str(info.value).split(": ", 1)[1])
    monkeypatch.setattr(limits, "available_memory", lambda: 10**6)
    with pytest.raises(ImageTooLarge) as info:
        read_image(large)
    messages.append(str(info.value).split(": ", 1)[1])
    assert len(set(messages)) == 3 and not any("unknown error" in m for m in messages), messages


# ---------------------------------------------------------------- what becomes a MedsegIOError


def test_library_errors_keep_their_cause(tmp_path):
    tifffile.imwrite(tmp_path / "full.tif", np.zeros((32, 32), np.uint8))
    (tmp_path / "cut.tif").write_bytes((tmp_path / "full.tif").read_bytes()[:100])
    Image.new("L", (64, 64)).save(tmp_path / "full.png")
    (tmp_path / "cut.png").write_bytes((tmp_path / "full.png").read_bytes()[:60])
    (tmp_path / "text.png").write_text("not an image")
    for name in ("cut.tif", "cut.png", "text.png"):
        with pytest.raises(CorruptFile) as info:
            read_image(tmp_path / name)
        assert info.value.__cause__ is not None, name
        assert "unknown error" not in str(info.value)


@pytest.mark.parametrize(
    ("module", "function", "error"),
    [
        ("medseg_core.io.tiff", "arrange_axes", AttributeError("'NoneType' object has no attribute 'ndim'")),
        ("medseg_core.io.raster", "make_image", TypeError("unsupported operand")),
        ("medseg_core.io.dicom", "rescale", KeyError("RescaleSlope")),
        ("medseg_core.io.nifti", "make_image", IndexError("tuple index out of range")),
    ],
)
def test_bugs_in_our_readers_propagate_and_are_logged(tmp_path, monkeypatch, caplog, module, function, error):
    files = _small_files(tmp_path / "files")
    path = files[{"tiff": "a.tif", "raster": "a.png", "dicom": "a.dcm", "nifti": "a.nii.gz"}[module.rsplit(".", 1)[1]]]

    def broken(*args, **kwargs):
        raise error

    monkeypatch.setattr(module + "." + function, broken)
    with caplog.at_level(logging.ERROR, logger="medseg_core.io.errors"):
        with pytest.raises(type(error)) as info:
            read_image(path)
    assert info.value is error and not isinstance(info.value, MedsegIOError)
    assert len([r for r in caplog.records if r.levelno == logging.ERROR and str(path) in r.getMessage()]) == 1


def test_an_exception_inside_a_reader_library_is_a_corrupt_file(tmp_path, monkeypatch, caplog):
    tifffile.imwrite(tmp_path / "a.tif", np.zeros((8, 8), np.uint8))
    inside_tifffile = eval("lambda *args, **kwargs: [][0]", vars(tifffile.tifffile))  # raised from tifffile's code
    monkeypatch.setattr(tifffile.TiffFile, "__init__", inside_tifffile)
    with caplog.at_level(logging.WARNING, logger="medseg_core.io.errors"):
        with pytest.raises(CorruptFile, match="IndexError") as info:
            read_image(tmp_path / "a.tif")
    assert isinstance(info.value.__cause__, IndexError)
    assert any("tifffile raised IndexError" in r.getMessage() for r in caplog.records)


def test_labels_are_checked_too(tmp_path):
    with pytest.raises(ImageTooLarge):
        read_labels(_png_declaring(tmp_path / "bomb.png", 100_000, 100_000))

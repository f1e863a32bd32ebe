"""Tests of :mod:`medseg_core.io`: every reader, the label writer and every refusal."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import imageio.v3 as iio
import nibabel as nib
import numpy as np
import pytest
import tifffile
from PIL import Image
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from medseg_core.errors import MedsegIOError
from medseg_core.io import (
    SUPPORTED_SUFFIXES,
    CorruptFile,
    FileNotFound,
    ImageData,
    InvalidData,
    NoPixelData,
    UnsupportedFormat,
    UnsupportedShape,
    WriteFailed,
    is_supported,
    read_image,
    read_labels,
    write_labels,
)

RNG = np.random.default_rng(0)


# ---------------------------------------------------------------- fixtures


def write_dicom(
    path: Path,
    pixels: np.ndarray | None,
    *,
    position: tuple[float, float, float] | None = None,
    orientation: tuple[float, ...] = (1, 0, 0, 0, 1, 0),
    instance: int | None = None,
    series: str = "1.2.826.0.1.3680043.8.498.1",
    slope: float | None = None,
    intercept: float | None = None,
    spacing: tuple[float, float] | None = (0.5, 0.7),
    slice_spacing: float | None = None,
    shape: tuple[int, int] = (6, 8),
) -> Path:
    """Write a small, valid CT DICOM file (Explicit VR Little Endian)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.SeriesInstanceUID = series
    ds.Modality = "CT"
    rows, cols = pixels.shape[-2:] if pixels is not None else shape
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1 if pixels is not None and pixels.dtype.kind == "i" else 0
    if spacing is not None:
        ds.PixelSpacing = list(spacing)
    if instance is not None:
        ds.InstanceNumber = instance
    if position is not None:
        ds.ImagePositionPatient = list(position)
        ds.ImageOrientationPatient = list(orientation)
    if slope is not None:
        ds.RescaleSlope = slope
        ds.RescaleIntercept = intercept
    if slice_spacing is not None:
        ds.SpacingBetweenSlices = slice_spacing
    if pixels is not None:
        if pixels.ndim == 3:
            ds.NumberOfFrames = pixels.shape[0]
        ds.PixelData = pixels.tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def assert_refused(path: Path, cls: type[MedsegIOError] = MedsegIOError) -> MedsegIOError:
    """read_image(path) raises ``cls``, with a one-line message naming the file."""
    with pytest.raises(cls) as info:
        read_image(path)
    message = str(info.value)
    assert path.name in message
    assert "\n" not in message
    assert info.value.__cause__ is None or isinstance(info.value.__cause__, MedsegIOError)
    return info.value


# ---------------------------------------------------------------- TIFF


def test_tiff_2d_grayscale(tmp_path):
    data = RNG.integers(0, 4000, (20, 30), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "a.tif", data)
    image = read_image(tmp_path / "a.tif")
    assert isinstance(image, ImageData)
    np.testing.assert_array_equal(image.array, data)
    meta = image.meta
    assert (meta.axes, meta.spacing, meta.unit, meta.format) == ("YX", None, "px", "tiff")
    assert meta.original_dtype == "uint16"
    assert meta.source == tmp_path / "a.tif"


def test_tiff_multipage_stack_is_zyx(tmp_path):
    data = RNG.integers(0, 255, (5, 12, 10), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "stack.tiff", data)
    image = read_image(str(tmp_path / "stack.tiff"))
    assert image.meta.axes == "ZYX"
    np.testing.assert_array_equal(image.array, data)


def test_ome_tiff_physical_size(tmp_path):
    data = RNG.random((4, 12, 10), dtype=np.float32)
    meta = {"axes": "ZYX", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.25, "PhysicalSizeZ": 2.0}
    tifffile.imwrite(tmp_path / "a.ome.tif", data, ome=True, metadata=meta)
    image = read_image(tmp_path / "a.ome.tif")
    assert image.meta.axes == "ZYX"
    assert image.meta.spacing == pytest.approx((2.0, 0.25, 0.5))
    assert image.meta.unit == "um"


def test_ome_tiff_units_converted_to_micrometres(tmp_path):
    meta = {
        "axes": "YX",
        "PhysicalSizeX": 500.0,
        "PhysicalSizeXUnit": "nm",
        "PhysicalSizeY": 0.001,
        "PhysicalSizeYUnit": "mm",
    }
    tifffile.imwrite(tmp_path / "u.ome.tif", np.zeros((8, 9), np.uint8), ome=True, metadata=meta)
    image = read_image(tmp_path / "u.ome.tif")
    assert image.meta.spacing == pytest.approx((1.0, 0.5))
    assert image.meta.unit == "um"


def test_imagej_tiff_spacing(tmp_path):
    data = np.zeros((3, 10, 12), np.uint16)
    tifffile.imwrite(
        tmp_path / "ij.tif",
        data,
        imagej=True,
        resolution=(2.0, 4.0),  # pixels per unit in X, Y
        metadata={"spacing": 3.0, "unit": "micron", "axes": "ZYX"},
    )
    image = read_image(tmp_path / "ij.tif")
    assert image.meta.axes == "ZYX"
    assert image.meta.spacing == pytest.approx((3.0, 0.25, 0.5))
    assert image.meta.unit == "um"


@pytest.mark.parametrize(
    ("resolution", "unit", "expected"),
    [((1e4 / 0.5, 1e4 / 0.25), "CENTIMETER", (0.25, 0.5)), ((25400 / 2, 25400 / 4), "INCH", (4.0, 2.0))],
)
def test_tiff_resolution_tags(tmp_path, resolution, unit, expected):
    tifffile.imwrite(tmp_path / "r.tif", np.zeros((8, 8), np.uint8), resolution=resolution, resolutionunit=unit)
    image = read_image(tmp_path / "r.tif")
    assert image.meta.spacing == pytest.approx(expected)
    assert image.meta.unit == "um"


def test_tiff_resolution_without_unit_is_unknown(tmp_path):
    tifffile.imwrite(tmp_path / "n.tif", np.zeros((8, 8), np.uint8), resolution=(3.0, 3.0), resolutionunit="NONE")
    image = read_image(tmp_path / "n.tif")
    assert (image.meta.spacing, image.meta.unit) == (None, "px")


def test_tiff_stack_without_z_size_gets_unit_dz(tmp_path):
    tifffile.imwrite(
        tmp_path / "s.tif",
        np.zeros((3, 8, 8), np.uint8),
        photometric="minisblack",
        resolution=(1e4, 1e4),
        resolutionunit="CENTIMETER",
    )
    assert read_image(tmp_path / "s.tif").meta.spacing == pytest.approx((1.0, 1.0, 1.0))


def test_ome_channels_first_returned_channels_last(tmp_path):
    data = RNG.integers(0, 1000, (3, 10, 12), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "c.ome.tif", data, ome=True, metadata={"axes": "CYX"})
    image = read_image(tmp_path / "c.ome.tif")
    assert image.meta.axes == "YXC"
    np.testing.assert_array_equal(image.array, np.moveaxis(data, 0, -1))


def test_ome_zcyx_becomes_zyxc(tmp_path):
    data = RNG.integers(0, 255, (4, 2, 10, 12), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "zc.ome.tif", data, ome=True, metadata={"axes": "ZCYX"})
    image = read_image(tmp_path / "zc.ome.tif")
    assert image.meta.axes == "ZYXC"
    np.testing.assert_array_equal(image.array, np.moveaxis(data, 1, -1))


def test_rgb_tiff(tmp_path):
    data = RNG.integers(0, 255, (10, 12, 3), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "rgb.tif", data, photometric="rgb")
    image = read_image(tmp_path / "rgb.tif")
    assert image.meta.axes == "YXC"
    np.testing.assert_array_equal(image.array, data)


def test_tiff_singleton_axes_squeezed(tmp_path):
    data = RNG.integers(0, 255, (1, 1, 4, 10, 12), dtype=np.uint8)
    meta = {"axes": "TCZYX", "PhysicalSizeX": 0.3, "PhysicalSizeY": 0.3, "PhysicalSizeZ": 1.5}
    tifffile.imwrite(tmp_path / "sq.ome.tif", data, ome=True, metadata=meta)
    image = read_image(tmp_path / "sq.ome.tif")
    assert image.meta.axes == "ZYX"
    assert image.meta.spacing == pytest.approx((1.5, 0.3, 0.3))
    np.testing.assert_array_equal(image.array, data[0, 0])


def test_tiff_time_series_read_as_z(tmp_path):
    data = RNG.integers(0, 255, (3, 10, 12), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "t.ome.tif", data, ome=True, metadata={"axes": "TYX"})
    image = read_image(tmp_path / "t.ome.tif")
    assert image.meta.axes == "ZYX"
    np.testing.assert_array_equal(image.array, data)


def test_tiff_bool_becomes_uint8_and_nan_is_returned(tmp_path):
    tifffile.imwrite(tmp_path / "b.tif", np.eye(5, dtype=bool))
    image = read_image(tmp_path / "b.tif")
    assert image.array.dtype == np.uint8 and image.meta.original_dtype == "bool"
    np.testing.assert_array_equal(image.array, np.eye(5))
    data = np.ones((6, 6), np.float32)
    data[0, 0], data[1, 1], data[2, 2] = np.nan, np.inf, -np.inf
    tifffile.imwrite(tmp_path / "f.tif", data)
    out = read_image(tmp_path / "f.tif").array
    assert out.dtype == np.float32 and np.isnan(out[0, 0]) and np.isinf(out[1, 1])


# ---------------------------------------------------------------- PNG / JPEG / BMP


def test_png_8_and_16_bit_grayscale(tmp_path):
    g8 = RNG.integers(0, 255, (10, 12), dtype=np.uint8)
    g16 = RNG.integers(0, 65535, (10, 12), dtype=np.uint16)
    iio.imwrite(tmp_path / "g8.png", g8)
    iio.imwrite(tmp_path / "g16.png", g16)
    a, b = read_image(tmp_path / "g8.png"), read_image(tmp_path / "g16.png")
    assert (a.meta.axes, a.meta.format, a.array.dtype) == ("YX", "png", np.uint8)
    assert (b.meta.axes, b.array.dtype) == ("YX", np.uint16)
    np.testing.assert_array_equal(a.array, g8)
    np.testing.assert_array_equal(b.array, g16)
    assert (a.meta.spacing, a.meta.unit) == (None, "px")


@pytest.mark.parametrize("channels", [3, 4])
def test_png_rgb_and_rgba(tmp_path, channels):
    data = RNG.integers(0, 255, (10, 12, channels), dtype=np.uint8)
    iio.imwrite(tmp_path / "c.png", data)
    image = read_image(tmp_path / "c.png")
    assert image.meta.axes == "YXC" and image.array.shape == (10, 12, channels)
    np.testing.assert_array_equal(image.array, data)


def test_jpeg_and_bmp(tmp_path):
    data = np.full((16, 16, 3), (200, 100, 50), np.uint8)
    iio.imwrite(tmp_path / "a.jpg", data)
    iio.imwrite(tmp_path / "a.bmp", data)
    jpg, bmp = read_image(tmp_path / "a.jpg"), read_image(tmp_path / "a.bmp")
    assert (jpg.meta.format, jpg.meta.axes, jpg.array.shape) == ("jpeg", "YXC", (16, 16, 3))
    assert np.abs(jpg.array.astype(int) - data).max() <= 3
    assert (bmp.meta.format, bmp.meta.axes) == ("bmp", "YXC")
    np.testing.assert_array_equal(bmp.array, data)
    iio.imwrite(tmp_path / "g.jpeg", data[..., 0])
    assert read_image(tmp_path / "g.jpeg").meta.axes == "YX"


def test_palette_png_colours_for_images_indices_for_labels(tmp_path):
    indices = (np.arange(12 * 10).reshape(12, 10) % 4).astype(np.uint8)
    pal = Image.new("P", (10, 12))
    pal.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * 756)
    pal.putdata(indices.ravel().tolist())
    pal.save(tmp_path / "pal.png")
    assert read_image(tmp_path / "pal.png").meta.axes == "YXC"
    np.testing.assert_array_equal(read_labels(tmp_path / "pal.png"), indices)


# ---------------------------------------------------------------- DICOM


def test_dicom_single_file_rescaled(tmp_path):
    raw = RNG.integers(-100, 1000, (6, 8)).astype(np.int16)
    path = write_dicom(tmp_path / "ct.dcm", raw, slope=2.0, intercept=-1024.0)
    image = read_image(path)
    assert (image.meta.axes, image.meta.format, image.meta.unit) == ("YX", "dicom", "mm")
    assert image.meta.spacing == pytest.approx((0.5, 0.7))
    assert image.array.dtype == np.float32 and image.meta.original_dtype == "int16"
    np.testing.assert_allclose(image.array, raw * 2.0 - 1024.0)


def test_dicom_trivial_rescale_keeps_integers(tmp_path):
    raw = RNG.integers(0, 4000, (6, 8)).astype(np.uint16)
    image = read_image(write_dicom(tmp_path / "a.dcm", raw, slope=1.0, intercept=0.0))
    assert image.array.dtype == np.uint16
    np.testing.assert_array_equal(image.array, raw)


def test_dicom_without_suffix_is_detected_by_preamble(tmp_path):
    raw = np.arange(48, dtype=np.uint16).reshape(6, 8)
    path = write_dicom(tmp_path / "IM0001", raw)
    assert is_supported(path)
    np.testing.assert_array_equal(read_image(path).array, raw)


def test_dicom_multiframe_is_zyx(tmp_path):
    raw = RNG.integers(0, 4000, (4, 6, 8)).astype(np.uint16)
    image = read_image(write_dicom(tmp_path / "mf.dcm", raw, slice_spacing=2.5))
    assert image.meta.axes == "ZYX"
    assert image.meta.spacing == pytest.approx((2.5, 0.5, 0.7))
    np.testing.assert_array_equal(image.array, raw)


def test_dicom_series_sorted_by_position(tmp_path):
    folder = tmp_path / "series"
    folder.mkdir()
    # file names and instance numbers disagree with the true order (z = 0, 5, 10)
    for name, z, inst in [("a.dcm", 10.0, 1), ("b.dcm", 0.0, 3), ("c.dcm", 5.0, 2)]:
        write_dicom(folder / name, np.full((6, 8), z, np.int16), position=(0, 0, z), instance=inst, slope=1, intercept=5)
    (folder / "notes.txt").write_text("not dicom")
    image = read_image(folder)
    assert (image.meta.axes, image.meta.format, image.meta.unit) == ("ZYX", "dicom-series", "mm")
    assert image.meta.source == folder
    np.testing.assert_allclose(image.array[:, 0, 0], [5.0, 10.0, 15.0])
    assert image.array.dtype == np.float32
    assert image.meta.spacing == pytest.approx((5.0, 0.5, 0.7))


def test_dicom_series_sorted_along_oblique_normal(tmp_path):
    # sagittal slices: normal = row x col = (0,1,0) x (0,0,-1) = (-1, 0, 0); z is constant
    for name, x in [("1.dcm", -3.0), ("2.dcm", 3.0), ("3.dcm", 0.0)]:
        pixels = np.full((6, 8), int(x) + 10, np.int16)
        write_dicom(tmp_path / name, pixels, position=(x, 0, 7), orientation=(0, 1, 0, 0, 0, -1))
    image = read_image(tmp_path)
    np.testing.assert_array_equal(image.array[:, 0, 0], [13, 10, 7])  # ascending along the normal
    assert image.meta.spacing[0] == pytest.approx(3.0)


def test_dicom_series_falls_back_to_instance_number(tmp_path):
    for name, inst in [("x.dcm", 3), ("y.dcm", 1), ("z.dcm", 2)]:
        write_dicom(tmp_path / name, np.full((6, 8), inst, np.uint16), instance=inst, slice_spacing=4.0)
    image = read_image(tmp_path)
    np.testing.assert_array_equal(image.array[:, 0, 0], [1, 2, 3])
    assert image.meta.spacing == pytest.approx((4.0, 0.5, 0.7))


def test_dicom_folder_with_two_series_reads_the_largest(tmp_path):
    for i in range(3):
        write_dicom(tmp_path / f"a{i}.dcm", np.full((6, 8), i, np.uint16), position=(0, 0, i), series="1.2.3")
    write_dicom(tmp_path / "b0.dcm", np.zeros((10, 10), np.uint16), position=(0, 0, 0), series="1.2.4")
    image = read_image(tmp_path)
    assert image.array.shape == (3, 6, 8)


def test_dicom_series_with_different_slice_sizes_is_refused(tmp_path):
    write_dicom(tmp_path / "a.dcm", np.zeros((6, 8), np.uint16), position=(0, 0, 0))
    write_dicom(tmp_path / "b.dcm", np.zeros((7, 8), np.uint16), position=(0, 0, 1))
    error = assert_refused(tmp_path, UnsupportedShape)
    assert "different sizes" in str(error)


def test_dicom_without_pixel_data(tmp_path):
    path = write_dicom(tmp_path / "nopix.dcm", None)
    error = assert_refused(path, NoPixelData)
    assert "has no pixel data" in str(error)
    assert isinstance(error, CorruptFile)
    folder = tmp_path / "only_report"
    folder.mkdir()
    write_dicom(folder / "r.dcm", None)
    assert_refused(folder, NoPixelData)


# ---------------------------------------------------------------- NIfTI


@pytest.mark.parametrize("name", ["vol.nii", "vol.nii.gz"])
def test_nifti_volume_is_transposed_to_zyx(tmp_path, name):
    data = RNG.integers(0, 1000, (4, 5, 6)).astype(np.int16)  # stored X, Y, Z
    img = nib.Nifti1Image(data, np.diag([0.5, 0.7, 2.0, 1.0]))
    img.header.set_zooms((0.5, 0.7, 2.0))
    img.header.set_xyzt_units("mm")
    nib.save(img, tmp_path / name)
    image = read_image(tmp_path / name)
    assert (image.meta.axes, image.meta.format, image.meta.unit) == ("ZYX", "nifti", "mm")
    np.testing.assert_array_equal(image.array, data.transpose(2, 1, 0))
    assert image.meta.spacing == pytest.approx((2.0, 0.7, 0.5))
    assert image.meta.original_dtype == "int16"


def test_nifti_2d_and_singleton_4d(tmp_path):
    flat = RNG.random((4, 5), dtype=np.float32)
    nib.save(nib.Nifti1Image(flat, np.eye(4)), tmp_path / "flat.nii")
    image = read_image(tmp_path / "flat.nii")
    assert image.meta.axes == "YX"
    np.testing.assert_array_equal(image.array, flat.T)
    vol = RNG.random((4, 5, 6, 1), dtype=np.float32)
    nib.save(nib.Nifti1Image(vol, np.eye(4)), tmp_path / "t1.nii.gz")
    image = read_image(tmp_path / "t1.nii.gz")
    assert image.meta.axes == "ZYX"
    np.testing.assert_array_equal(image.array, vol[..., 0].transpose(2, 1, 0))


def test_nifti_scaled_values_are_float32(tmp_path):
    img = nib.Nifti1Image(np.full((4, 5, 6), 3, np.int16), np.eye(4))
    img.header.set_slope_inter(2.0, 1.0)
    nib.save(img, tmp_path / "s.nii")
    image = read_image(tmp_path / "s.nii")
    assert image.array.dtype == np.float32
    np.testing.assert_allclose(image.array, 7.0)


# ---------------------------------------------------------------- refusals


def _bad_inputs(tmp: Path) -> dict[str, tuple[Path, type[MedsegIOError]]]:
    """Build every bad input of the contract; map a label to (path, expected class)."""
    cases: dict[str, tuple[Path, type[MedsegIOError]]] = {}
    cases["missing"] = (tmp / "missing.tif", FileNotFound)
    (tmp / "emptydir").mkdir()
    cases["empty folder"] = (tmp / "emptydir", UnsupportedFormat)
    (tmp / "textdir").mkdir()
    (tmp / "textdir" / "readme.txt").write_text("hello")
    cases["folder without images"] = (tmp / "textdir", UnsupportedFormat)
    for suffix in (".tif", ".png", ".jpg", ".dcm", ".nii", ".nii.gz"):
        (tmp / f"empty{suffix}").write_bytes(b"")
        cases[f"0-byte {suffix}"] = (tmp / f"empty{suffix}", CorruptFile)
    stack = RNG.integers(0, 255, (4, 32, 32), dtype=np.uint8)
    tifffile.imwrite(tmp / "full.tif", stack, photometric="minisblack")
    blob = (tmp / "full.tif").read_bytes()
    (tmp / "truncated.tif").write_bytes(blob[: len(blob) // 2])
    tifffile.imwrite(tmp / "fullz.tif", stack, photometric="minisblack", compression="zlib")
    blob = (tmp / "fullz.tif").read_bytes()
    (tmp / "truncated_zlib.tif").write_bytes(blob[: len(blob) // 2])
    iio.imwrite(tmp / "full.png", RNG.integers(0, 255, (64, 64), dtype=np.uint8))
    blob = (tmp / "full.png").read_bytes()
    (tmp / "truncated.png").write_bytes(blob[: len(blob) // 2])
    cases["truncated tif"] = (tmp / "truncated.tif", CorruptFile)
    cases["truncated zlib tif"] = (tmp / "truncated_zlib.tif", CorruptFile)
    cases["truncated png"] = (tmp / "truncated.png", CorruptFile)
    (tmp / "text.tif").write_text("this is not an image\n")
    cases["text named .tif"] = (tmp / "text.tif", CorruptFile)
    (tmp / "text.nii").write_text("this is not an image\n" * 30)
    cases["text named .nii"] = (tmp / "text.nii", CorruptFile)
    (tmp / "data.xyz").write_bytes(b"12345")
    cases["unknown suffix"] = (tmp / "data.xyz", UnsupportedFormat)
    cases["dicom without pixels"] = (write_dicom(tmp / "nopix.dcm", None), NoPixelData)
    tifffile.imwrite(tmp / "one.tif", np.zeros((1, 1), np.uint8))
    cases["1x1 tif"] = (tmp / "one.tif", UnsupportedShape)
    iio.imwrite(tmp / "one.png", np.zeros((1, 1), np.uint8))
    cases["1x1 png"] = (tmp / "one.png", UnsupportedShape)
    tifffile.imwrite(tmp / "line.tif", np.zeros((1, 50), np.uint8))
    cases["1-pixel-high tif"] = (tmp / "line.tif", UnsupportedShape)
    tifffile.imwrite(tmp / "five.ome.tif", np.zeros((2, 3, 2, 8, 8), np.uint8), ome=True, metadata={"axes": "TZCYX"})
    cases["5-D OME"] = (tmp / "five.ome.tif", UnsupportedShape)
    tifffile.imwrite(tmp / "five.tif", np.zeros((2, 3, 2, 8, 8), np.uint8), photometric="minisblack")
    cases["5-D plain"] = (tmp / "five.tif", UnsupportedShape)
    tifffile.imwrite(tmp / "tz.ome.tif", np.zeros((2, 3, 8, 8), np.uint8), ome=True, metadata={"axes": "TZYX"})
    cases["T and Z"] = (tmp / "tz.ome.tif", UnsupportedShape)
    with pytest.warns(UserWarning):
        tifffile.imwrite(tmp / "zero.tif", np.zeros((0, 5), np.uint8))
    cases["zero-size tif"] = (tmp / "zero.tif", UnsupportedShape)
    return cases


def test_every_bad_input_raises_a_one_line_medseg_io_error(tmp_path):
    failures = []
    for label, (path, cls) in _bad_inputs(tmp_path).items():
        try:
            read_image(path)
        except MedsegIOError as exc:
            message = str(exc)
            if not isinstance(exc, cls) or path.name not in message or "\n" in message:
                failures.append(f"{label}: {type(exc).__name__}: {message}")
        except BaseException as exc:  # noqa: BLE001 - the point of the test
            failures.append(f"{label}: escaped {type(exc).__name__}: {exc}")
        else:
            failures.append(f"{label}: no error")
    assert not failures, "\n".join(failures)


def test_error_messages_are_specific(tmp_path):
    (tmp_path / "e.png").write_bytes(b"")
    assert "empty" in str(assert_refused(tmp_path / "e.png"))
    tifffile.imwrite(tmp_path / "one.tif", np.zeros((1, 1), np.uint8))
    assert "too small" in str(assert_refused(tmp_path / "one.tif"))
    (tmp_path / "a.xyz").write_text("x")
    assert ".tif" in str(assert_refused(tmp_path / "a.xyz"))  # lists what is supported


def test_errors_pickle_with_their_path(tmp_path):
    with pytest.raises(FileNotFound) as info:
        read_image(tmp_path / "gone.png")
    copy = pickle.loads(pickle.dumps(info.value))
    assert type(copy) is FileNotFound and str(copy) == str(info.value)
    assert copy.path == os.fspath(tmp_path / "gone.png")


# ---------------------------------------------------------------- is_supported


def test_is_supported(tmp_path):
    for name in ("a.tif", "A.TIFF", "b.ome.tif", "c.png", "d.JPG", "e.jpeg", "f.bmp", "g.dcm", "h.nii", "i.nii.gz"):
        assert is_supported(tmp_path / name), name
    assert not is_supported(tmp_path / "a.txt")
    assert not is_supported(tmp_path / "noext")
    assert not is_supported(tmp_path)  # folder without DICOM
    write_dicom(tmp_path / "s.dcm", np.zeros((6, 8), np.uint16))
    assert is_supported(tmp_path)
    assert {".tif", ".tiff", ".png", ".jpg", ".jpeg", ".bmp", ".dcm", ".nii", ".nii.gz"} <= set(SUPPORTED_SUFFIXES)


# ---------------------------------------------------------------- labels


def test_write_read_labels_uint16_round_trip_with_spacing(tmp_path):
    labels = RNG.integers(0, 300, (20, 30))
    path = write_labels(tmp_path / "sub" / "labels.tif", labels, spacing=(0.5, 0.25))
    assert path == tmp_path / "sub" / "labels.tif"
    with tifffile.TiffFile(path) as tf:
        assert tf.pages[0].compression == tifffile.COMPRESSION.ADOBE_DEFLATE
    back = read_labels(path)
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, labels)
    meta = read_image(path).meta
    assert meta.spacing == pytest.approx((0.5, 0.25)) and meta.unit == "um"


def test_write_labels_large_ids_are_uint32_and_3d_spacing(tmp_path):
    labels = np.zeros((3, 10, 12), np.int64)
    labels[1, 2:4, 3:5] = 70_000
    labels[2, 0, 0] = 65_535
    path = write_labels(tmp_path / "big.tiff", labels, spacing=(2.0, 0.5, 0.5), unit="mm")
    back = read_labels(path)
    assert back.dtype == np.uint32
    np.testing.assert_array_equal(back, labels)
    meta = read_image(path).meta
    assert meta.axes == "ZYX"
    assert meta.spacing == pytest.approx((2000.0, 500.0, 500.0))  # read back in micrometres


def test_write_labels_accepts_bool_and_whole_floats(tmp_path):
    write_labels(tmp_path / "b.tif", np.eye(4, dtype=bool))
    np.testing.assert_array_equal(read_labels(tmp_path / "b.tif"), np.eye(4))
    write_labels(tmp_path / "f.tif", np.array([[0.0, 1.0], [2.0, 3.0]], np.float32))
    assert read_labels(tmp_path / "f.tif").dtype == np.uint16


@pytest.mark.parametrize(
    ("labels", "spacing", "cls"),
    [
        (np.array([[-1, 0], [1, 2]]), None, InvalidData),
        (np.array([[0.5, 1.0], [1.0, 2.0]]), None, InvalidData),
        (np.array([[np.nan, 1.0], [1.0, 2.0]]), None, InvalidData),
        (np.array([[0, 2**32], [1, 2]], np.int64), None, InvalidData),
        (np.zeros((2, 2), complex), None, InvalidData),
        (np.zeros((0, 4), np.uint8), None, UnsupportedShape),
        (np.zeros((1, 4), np.uint8), None, UnsupportedShape),
        (np.zeros((2, 2, 2, 2), np.uint8), None, UnsupportedShape),
        (np.zeros((4, 4), np.uint8), (1.0,), InvalidData),
        (np.zeros((4, 4), np.uint8), (1.0, -2.0), InvalidData),
    ],
)
def test_write_labels_refuses_bad_labels(tmp_path, labels, spacing, cls):
    with pytest.raises(cls, match="bad.tif"):
        write_labels(tmp_path / "bad.tif", labels, spacing=spacing)
    assert not list(tmp_path.iterdir())


def test_write_labels_refuses_non_tiff_suffix(tmp_path):
    with pytest.raises(UnsupportedFormat, match=r"labels\.png"):
        write_labels(tmp_path / "labels.png", np.zeros((4, 4), np.uint8))


def test_read_labels_refusals(tmp_path):
    iio.imwrite(tmp_path / "rgb.png", RNG.integers(0, 255, (8, 8, 3), dtype=np.uint8))
    with pytest.raises(UnsupportedShape, match="rgb.png"):
        read_labels(tmp_path / "rgb.png")
    iio.imwrite(tmp_path / "l.jpg", np.zeros((8, 8), np.uint8))
    with pytest.raises(UnsupportedFormat, match="l.jpg"):
        read_labels(tmp_path / "l.jpg")
    tifffile.imwrite(tmp_path / "neg.tif", np.full((4, 4), -3, np.int16))
    with pytest.raises(InvalidData, match="neg.tif"):
        read_labels(tmp_path / "neg.tif")
    with pytest.raises(FileNotFound):
        read_labels(tmp_path / "missing.tif")
    iio.imwrite(tmp_path / "ok.png", np.arange(16, dtype=np.uint8).reshape(4, 4))
    np.testing.assert_array_equal(read_labels(tmp_path / "ok.png"), np.arange(16).reshape(4, 4))


@pytest.mark.parametrize("error", [OSError("disk full"), MemoryError()])
def test_write_labels_is_atomic(tmp_path, monkeypatch, error):
    target = tmp_path / "labels.tif"
    old = np.ones((4, 4), np.uint16)
    write_labels(target, old)
    before = target.read_bytes()

    def failing_imwrite(path, *args, **kwargs):
        Path(path).write_bytes(b"II*\0 partial")  # the temp file is half written...
        raise error  # ...then the writer fails

    monkeypatch.setattr(tifffile, "imwrite", failing_imwrite)
    expected = WriteFailed if isinstance(error, OSError) else MemoryError
    with pytest.raises(expected):
        write_labels(target, np.full((4, 4), 7, np.uint16))
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.tif"]
    monkeypatch.undo()
    np.testing.assert_array_equal(read_labels(target), old)

"""Pixel size of a TIFF file, from OME-XML, ImageJ metadata or resolution tags."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import tifffile

from .units import micrometres_per

#: Micrometres per TIFF ResolutionUnit (2 inch, 3 centimetre; 4 and 5 are tifffile extensions).
_RESUNIT_UM = {2: 25400.0, 3: 1e4, 4: 1e3, 5: 1.0}


def _positive(value: object) -> float | None:
    """Return ``value`` as a finite positive float, else ``None``."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def _ome_spacing(tf: tifffile.TiffFile) -> dict[str, float]:
    """Read ``PhysicalSize{X,Y,Z}`` (with units) of the first OME image, in micrometres."""
    xml = tf.ome_metadata
    if not xml:
        return {}
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return {}
    pixels = next((el for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "Pixels"), None)
    if pixels is None:
        return {}
    found = {}
    for axis in "XYZ":
        size = _positive(pixels.get(f"PhysicalSize{axis}"))
        scale = micrometres_per(pixels.get(f"PhysicalSize{axis}Unit", "µm"))
        if size is not None and scale is not None:
            found[axis] = size * scale
    return found


def _resolution(page: tifffile.TiffPage, tag: str) -> float | None:
    """Return the pixels-per-unit value of an ``XResolution``/``YResolution`` tag."""
    item = page.tags.get(tag)
    if item is None:
        return None
    value = item.value
    if isinstance(value, tuple) and len(value) == 2:
        num, den = value
        return _positive(num / den) if den else None
    return _positive(value)


def _tag_spacing(tf: tifffile.TiffFile, unit_um: float | None) -> dict[str, float]:
    """Pixel size from the resolution tags of the first page, in micrometres.

    ``unit_um`` overrides the ResolutionUnit tag (ImageJ stores its unit in
    its own metadata and writes ResolutionUnit "none").
    """
    page = tf.pages.first if hasattr(tf.pages, "first") else tf.pages[0]
    if unit_um is None:
        item = page.tags.get("ResolutionUnit")
        code = int(item.value) if item is not None else 2  # TIFF default is inch
        unit_um = _RESUNIT_UM.get(code)
    if unit_um is None:
        return {}
    found = {}
    for axis, tag in (("X", "XResolution"), ("Y", "YResolution")):
        per_unit = _resolution(page, tag)
        if per_unit is not None:
            found[axis] = unit_um / per_unit
    return found


def tiff_spacing(tf: tifffile.TiffFile) -> dict[str, float]:
    """Return the known pixel sizes of a TIFF file, in micrometres.

    Sources, first found wins: OME-XML ``PhysicalSizeX/Y/Z``; ImageJ
    ``unit`` with the resolution tags (and ``spacing`` for Z); plain TIFF
    ``XResolution``/``YResolution`` with ``ResolutionUnit`` (inch or cm).
    A missing Y size is taken equal to X and vice versa.

    Parameters
    ----------
    tf : tifffile.TiffFile
        An open file.

    Returns
    -------
    dict
        Subset of ``{"X": dx, "Y": dy, "Z": dz}`` in micrometres; empty
        when the file does not say (e.g. resolution unit "none").
    """
    found: dict[str, float] = {}
    if tf.is_ome:
        found = _ome_spacing(tf)
    if not found and tf.is_imagej:
        meta = tf.imagej_metadata or {}
        unit_um = micrometres_per(meta.get("unit"))
        if unit_um is not None:
            found = _tag_spacing(tf, unit_um)
            dz = _positive(meta.get("spacing"))
            if dz is not None and found:
                found["Z"] = dz * unit_um
    if not found and not tf.is_imagej:
        found = _tag_spacing(tf, None)
    if "X" in found and "Y" not in found:
        found["Y"] = found["X"]
    if "Y" in found and "X" not in found:
        found["X"] = found["Y"]
    return found

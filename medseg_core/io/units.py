"""Length units found in image metadata, and their size in micrometres."""

from __future__ import annotations

#: Micrometres per unit, keyed by the lower-case spellings used by OME, ImageJ and NIfTI.
MICROMETRES_PER_UNIT: dict[str, float] = {
    "pm": 1e-6,
    "nm": 1e-3,
    "nanometer": 1e-3,
    "nanometre": 1e-3,
    "um": 1.0,
    "µm": 1.0,  # micro sign U+00B5
    "μm": 1.0,  # Greek mu U+03BC
    "\\u00b5m": 1.0,  # ImageJ writes the escape literally
    "micron": 1.0,
    "microns": 1.0,
    "micrometer": 1.0,
    "micrometre": 1.0,
    "mm": 1e3,
    "millimeter": 1e3,
    "millimetre": 1e3,
    "cm": 1e4,
    "centimeter": 1e4,
    "centimetre": 1e4,
    "m": 1e6,
    "meter": 1e6,
    "metre": 1e6,
    "inch": 25400.0,
    "in": 25400.0,
}

#: Unit names MedSeg reports, and the OME ``PhysicalSize*Unit`` spelling of each.
OME_UNIT = {"nm": "nm", "um": "µm", "mm": "mm", "cm": "cm", "m": "m"}


def micrometres_per(unit: str | None) -> float | None:
    """Return how many micrometres one ``unit`` is, or ``None`` if the unit is unknown.

    Parameters
    ----------
    unit : str or None
        A unit name such as ``"µm"``, ``"micron"``, ``"mm"`` or ``"inch"``;
        ``"pixel"``, ``""`` and ``None`` are unknown.

    Returns
    -------
    float or None

    Examples
    --------
    >>> micrometres_per("mm")
    1000.0
    >>> micrometres_per("pixel") is None
    True
    """
    if not unit:
        return None
    return MICROMETRES_PER_UNIT.get(str(unit).strip().lower())

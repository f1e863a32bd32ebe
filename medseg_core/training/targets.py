"""Training targets derived from label images."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.segmentation import find_boundaries

CONTACT_RADIUS = 2
"""Pixels this close (Chebyshev) to two different objects form the contact band."""


def contact_band(labels: np.ndarray, radius: int = CONTACT_RADIUS) -> np.ndarray:
    """Pixels near the place where two objects touch or almost touch.

    Parameters
    ----------
    labels : ndarray
        ``(H, W)`` instance labels, 0 = background.
    radius : int
        Half-width of the square window searched for a second object.

    Returns
    -------
    ndarray
        ``(H, W)`` bool: True where the ``(2r+1)``-pixel window holds two
        different object labels. Merged neighbours are the most common
        instance error, and these few pixels decide them.
    """
    labels = np.asarray(labels)
    top = int(labels.max(initial=0))
    if top == 0:
        return np.zeros(labels.shape, dtype=bool)
    size = 2 * radius + 1
    highest = ndi.maximum_filter(labels, size=size, mode="constant", cval=0)
    above = top + 1  # stands for "no object" (a dtype's maximum would not survive scipy's float cval)
    objects_only = np.where(labels > 0, labels, above)
    lowest = ndi.minimum_filter(objects_only, size=size, mode="constant", cval=above)
    return (highest > 0) & (lowest < highest)


def instance_targets(labels: np.ndarray) -> np.ndarray:
    """Foreground, normalised distance and contact band of instance labels.

    Parameters
    ----------
    labels : ndarray
        ``(H, W)`` instance labels, 0 = background.

    Returns
    -------
    ndarray
        ``(3, H, W)`` float32: channel 0 is 1 inside objects; channel 1 is
        each pixel's distance to its object's border divided by that
        object's largest distance (1 at the centre, small at the edge, 0 in
        the background); channel 2 is 1 in the :func:`contact_band`, where
        the loss weighs errors more. Touching objects are separated by
        their shared boundary, so each object has its own peak.
    """
    labels = np.asarray(labels)
    foreground = labels > 0
    inner = foreground & ~find_boundaries(labels, mode="inner")
    distance = ndi.distance_transform_edt(inner).astype(np.float32)
    distance[foreground & ~inner] = 0.5
    n = int(labels.max(initial=0))
    if n:
        peak = ndi.maximum(distance, labels=labels, index=np.arange(n + 1)).astype(np.float32)
        peak[0] = 1.0
        peak[peak == 0] = 1.0
        distance /= peak[labels]
    return np.stack([foreground.astype(np.float32), distance, contact_band(labels).astype(np.float32)])

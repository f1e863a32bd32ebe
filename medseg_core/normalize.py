"""Bring any 2-D image into the channel layout and value range a model expects."""

from __future__ import annotations

import numpy as np

from .errors import InputError

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def to_channels_first(image: np.ndarray, channels: int, channel_axis: int | None = None) -> np.ndarray:
    """Return a float32 ``(channels, H, W)`` array from a 2-D image.

    Parameters
    ----------
    image : ndarray
        ``(H, W)`` grayscale, or ``(H, W, C)`` / ``(C, H, W)`` with ``C``
        channels (RGB, RGBA or any multichannel).
    channels : int
        Channels the model expects (1 or 3 for the shipped models).
    channel_axis : int, optional
        Axis holding the channels of a 3-D image. By default the last axis
        when it has at most 4 entries, else the first.

    Notes
    -----
    RGBA drops alpha. A colour image given to a 1-channel model becomes its
    luminance; a grayscale image given to a 3-channel model is repeated.
    Other channel counts are averaged (to 1) or repeated/truncated.
    """
    image = np.asarray(image)
    if image.ndim == 2:
        chw = image[None]
    elif image.ndim == 3:
        if channel_axis is None:
            channel_axis = -1 if image.shape[-1] <= 4 else 0
        chw = np.moveaxis(image, channel_axis, 0)
    else:
        raise InputError(f"expected a 2-D image (with optional channels), got shape {image.shape}")
    if chw.shape[0] == 4:
        chw = chw[:3]
    chw = chw.astype(np.float32, copy=False)
    have = chw.shape[0]
    if have == channels:
        return chw
    if channels == 1:
        if have == 3:
            return np.tensordot(_LUMA, chw, axes=1)[None]
        return chw.mean(axis=0, keepdims=True)
    if have == 1:
        # broadcasting assignment releases the GIL; np.repeat holds it (a UI stall)
        out = np.empty((channels, *chw.shape[1:]), dtype=np.float32)
        out[...] = chw
        return out
    reps = int(np.ceil(channels / have))
    return np.concatenate([chw] * reps, axis=0)[:channels]


def check_image(image: np.ndarray) -> None:
    """Refuse arrays that cannot be segmented, with a readable reason."""
    if image.dtype == bool:
        return
    if not (np.issubdtype(image.dtype, np.number)):
        raise InputError(f"image has non-numeric type {image.dtype}")
    if np.iscomplexobj(image):
        raise InputError("complex-valued images are not supported")
    spatial = image.shape[:2] if image.ndim == 3 and image.shape[-1] <= 4 else image.shape[-2:]
    if image.ndim not in (2, 3) or min(spatial) < 2:
        raise InputError(
            f"image of shape {image.shape} is too small or has too many axes to segment "
            "(need at least 2x2 pixels, 2-D with optional channels)"
        )


def percentile_levels(chw: np.ndarray, low: float = 1.0, high: float = 99.8, max_samples: int = 1_000_000) -> np.ndarray:
    """The ``low`` and ``high`` percentiles of each channel, as a ``(C, 2)`` float64 array.

    Estimated from a regular subsample of ``max_samples`` pixels, ignoring
    NaN and infinite values; a channel with no finite value gets NaN levels
    (it normalises to 0).
    """
    levels = np.full((chw.shape[0], 2), np.nan)
    for c in range(chw.shape[0]):
        flat = chw[c].reshape(-1)
        sample = flat[:: max(1, flat.size // max_samples)]
        finite = sample[np.isfinite(sample)]
        if finite.size:
            levels[c] = np.percentile(finite, [low, high])
    return levels


def apply_levels(chw: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Map each channel's levels ``(lo, hi)`` to 0 and 1, in place; NaN and inf become 0.

    ``levels`` is ``(C, 2)`` as from :func:`percentile_levels`; the block
    runner of :mod:`medseg_core.large` passes levels measured on the whole
    image, so every block is normalised alike.
    """
    for c in range(chw.shape[0]):
        channel = chw[c]
        lo, hi = (float(v) for v in levels[c])
        if not (np.isfinite(lo) and np.isfinite(hi)):
            channel[...] = 0.0
            continue
        scale = 1.0 / (hi - lo) if hi > lo else 0.0
        channel -= lo
        channel *= scale
        np.nan_to_num(channel, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    return chw


def percentile_normalize(
    chw: np.ndarray, low: float = 1.0, high: float = 99.8, max_samples: int = 1_000_000
) -> np.ndarray:
    """Map each channel's ``low`` and ``high`` percentiles to 0 and 1, in place.

    NaN and infinite values become 0 after normalisation. Percentiles of
    large images are estimated from a regular subsample of ``max_samples``
    pixels, so the cost does not grow with the image.
    """
    return apply_levels(chw, percentile_levels(chw, low, high, max_samples))


def normalized_channels(
    image: np.ndarray, channels: int, low: float = 1.0, high: float = 99.8, *, levels: np.ndarray | None = None
) -> np.ndarray:
    """A new float32 ``(channels, H, W)`` array, percentile-normalised per channel.

    ``levels`` (``(C, 2)``, see :func:`percentile_levels`) replaces the
    image's own percentiles, e.g. with those of the whole image when
    ``image`` is one block of it (``C`` is 1 for a grayscale image given to
    a multi-channel model).

    Combines :func:`to_channels_first` and :func:`percentile_normalize`
    without ever writing into ``image`` (a float32 grayscale image would
    otherwise come back as a view of the caller's array, e.g. a napari
    layer's data). A grayscale image given to a multi-channel model is
    normalised once and then repeated, which gives the same values.
    """
    image = np.asarray(image)
    gray_to_many = image.ndim == 2 and channels > 1
    chw = to_channels_first(image, 1 if gray_to_many else channels)
    if np.may_share_memory(chw, image):
        chw = chw.copy()
    if levels is None:
        percentile_normalize(chw, low, high)
    else:
        apply_levels(chw, levels)
    if gray_to_many:
        out = np.empty((channels, *chw.shape[1:]), dtype=np.float32)
        out[...] = chw  # a broadcasting assignment releases the GIL
        chw = out
    return chw


def select_channel(
    image: np.ndarray, axes: str, in_channels: int, channel: int | None = None
) -> tuple[np.ndarray, str]:
    """The part of a multichannel image a model segments: the rule of the app and the CLI.

    Colour images (RGB, RGBA) and images with exactly the model's number of
    channels are segmented whole. Any other multichannel image (2-channel
    fluorescence, 5+ channels) is segmented one channel at a time: channel 0
    unless ``channel`` says otherwise. The app opens such images as one
    layer per channel and selects channel 0; ``medseg --channel`` picks
    another one.

    Parameters
    ----------
    image : ndarray
        Pixels with axes ``axes``.
    axes : str
        ``"YX"``, ``"YXC"``, ``"ZYX"`` or ``"ZYXC"``.
    in_channels : int
        Input channels of the model.
    channel : int, optional
        Segment this channel (0-based), whatever the image holds.

    Returns
    -------
    image : ndarray
        ``image`` unchanged, or a view of one channel.
    axes : str
        The axes of the returned image.

    Raises
    ------
    InputError
        ``channel`` is not one of the image's channels.
    """
    if "C" not in axes:
        if channel not in (None, 0):
            raise InputError(f"channel {channel} was asked for, but the image has a single channel")
        return image, axes
    have = image.shape[axes.index("C")]
    if channel is None:
        if have in (3, 4) or have == in_channels:
            return image, axes
        channel = 0
    if not 0 <= channel < have:
        raise InputError(f"channel {channel} was asked for, but the image has channels 0 to {have - 1}")
    return np.take(image, channel, axis=axes.index("C")), axes.replace("C", "")

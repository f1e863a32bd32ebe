"""The schema of a model file's metadata: every field's type, range and size.

A model file's ``"medseg"`` metadata is JSON written by
:meth:`medseg_core.model.ModelInfo.to_json`. A file from elsewhere may hold
anything, so :func:`parse_metadata` checks the text before any of it is
used: a bounded length, valid JSON, then each field against the table
below. A file that fails is refused with one
:class:`~medseg_core.errors.ModelFileError` line naming the field; nothing
else escapes.

================ =============================================================
field            rule
================ =============================================================
format_version   whole number, 1 to :data:`FORMAT_VERSION` (newer: "update")
name             text, 1 to :data:`MAX_NAME` characters, no control characters
task             ``"semantic"`` or ``"instance"``
classes          1 to :data:`MAX_CLASSES` distinct names (as ``name``)
architecture     object of :class:`~medseg_core.unet.UNetConfig` fields, in range
normalization    ``method`` ``"percentile"``; ``low`` < ``high``, both 0 to 100
input_scale      number, :data:`MIN_INPUT_SCALE` to :data:`MAX_INPUT_SCALE`
postprocess      keys of :data:`POSTPROCESS`, each of its type and range
description      text, at most :data:`MAX_TEXT` characters
training         any JSON object, nested at most :data:`MAX_NESTING` deep
metrics          object of numbers
parent           ``null`` or text (as ``name``)
encloses         ``null`` or one of ``classes`` other than the first (semantic models)
created          text, at most :data:`MAX_NAME` characters
================ =============================================================

Unknown top-level keys are ignored (written by a later minor version).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from .errors import ModelFileError
from .unet import MAX_OUT_CHANNELS, UNetConfig

FORMAT_VERSION = 1
TASKS = ("semantic", "instance")

#: Longest metadata text accepted (characters); the shipped models use about 2,000.
MAX_METADATA = 256_000
#: Longest name (of the model, a class, the parent model).
MAX_NAME = 100
#: Longest description, and longest text anywhere in ``training``.
MAX_TEXT = 10_000
#: Most classes a model may have (each needs an output channel).
MAX_CLASSES = MAX_OUT_CHANNELS
#: Bounds of ``input_scale``: the image is resized by this factor before the network.
MIN_INPUT_SCALE, MAX_INPUT_SCALE = 0.05, 4.0
#: Deepest nesting and most values in the free-form ``training`` record.
MAX_NESTING, MAX_VALUES = 8, 10_000
#: Largest whole number in ``training`` and ``metrics`` (a float64 holds it exactly).
MAX_INTEGER = 2**53

#: Post-processing options: type and inclusive range (see :func:`medseg_core.segment.postprocess_options`).
POSTPROCESS: dict[str, tuple[type, float, float]] = {
    "threshold": (float, 0.0, 1.0),
    "seed_threshold": (float, 0.0, 1.0),
    "prominence": (float, 0.0, 1.0),
    "min_size": (int, 0, 10**9),
    "single_region": (bool, 0, 1),
}
NORMALIZATION_METHODS = ("percentile",)
REQUIRED = ("name", "task", "classes", "architecture")

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def parse_metadata(text: object) -> dict[str, Any]:
    """Parse and check the metadata of a model file.

    Parameters
    ----------
    text : object
        The value stored under the file's ``"medseg"`` key (a JSON string).

    Returns
    -------
    dict
        The metadata, every field checked; ``format_version`` filled in when
        missing.

    Raises
    ------
    ModelFileError
        Too long, not JSON, or a field of the wrong type or out of range.
    """
    if not isinstance(text, str):
        raise ModelFileError("model metadata is not text")
    if len(text) > MAX_METADATA:
        raise ModelFileError(
            f"model metadata is {len(text):,} characters long, more than the {MAX_METADATA:,} allowed"
        )
    try:
        data = json.loads(text)
    except RecursionError:
        raise ModelFileError("model metadata is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, and integers of more than 4300 digits
        raise ModelFileError(f"model metadata is not valid JSON ({str(exc)[:120]})") from exc
    return check_metadata(data)


def check_metadata(data: object) -> dict[str, Any]:
    """Check parsed metadata field by field (see the module's table).

    Parameters
    ----------
    data : object
        Parsed JSON.

    Returns
    -------
    dict
        ``data``, with ``format_version`` filled in when missing.

    Raises
    ------
    ModelFileError
        The first field that breaks its rule, named in the message.
    """
    if not isinstance(data, dict):
        raise ModelFileError("model metadata must be a JSON object")
    version = data.setdefault("format_version", FORMAT_VERSION)
    _check_integer("format_version", version, 1, None)
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"model file format {version} is newer than this MedSeg understands ({FORMAT_VERSION}); update MedSeg"
        )
    missing = [key for key in REQUIRED if key not in data]
    if missing:
        raise ModelFileError(f"model metadata lacks {missing}")
    _check_name("name", data["name"])
    if data["task"] not in TASKS:
        raise ModelFileError(f"model task must be one of {TASKS}, got {_show(data['task'])}")
    _check_classes(data["classes"])
    _check_architecture(data["architecture"])
    if "normalization" in data:
        _check_normalization(data["normalization"])
    if "input_scale" in data:
        _check_number("input_scale", data["input_scale"], MIN_INPUT_SCALE, MAX_INPUT_SCALE)
    if "postprocess" in data:
        _check_postprocess(data["postprocess"])
    if "description" in data:
        _check_text("description", data["description"], MAX_TEXT)
    if "training" in data:
        _check_free_form(data["training"])
    if "metrics" in data:
        _check_metrics(data["metrics"])
    if data.get("parent") is not None:
        _check_name("parent", data["parent"])
    if data.get("encloses") is not None:
        _check_encloses(data["encloses"], data["classes"], data["task"])
    if "created" in data:
        _check_text("created", data["created"], MAX_NAME)
    return data


def _check_encloses(value: object, classes: list[str], task: str) -> None:
    if task != "semantic":
        raise ModelFileError(f"model metadata: encloses is for semantic models, this one is {task}")
    if value not in classes[1:]:
        raise ModelFileError(
            f"model metadata: encloses must name a class other than {classes[0]!r}, got {_show(value)}"
        )


def _show(value: object) -> str:
    """A short, one-line picture of a value for a message."""
    if isinstance(value, (dict, list)):
        return f"a JSON {'object' if isinstance(value, dict) else 'array'}"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**30:
        return "a number of more than 30 digits"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _check_integer(field: str, value: object, low: int, high: int | None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ModelFileError(f"model metadata: {field} must be a whole number, got {_show(value)}")
    if value < low or (high is not None and value > high):
        bounds = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise ModelFileError(f"model metadata: {field} must be {bounds}, got {_show(value)}")


def _check_number(field: str, value: object, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ModelFileError(f"model metadata: {field} must be a number, got {_show(value)}")
    if not (math.isfinite(value) and low <= value <= high):
        raise ModelFileError(f"model metadata: {field} must be from {low} to {high}, got {_show(value)}")


def _check_text(field: str, value: object, longest: int) -> None:
    if not isinstance(value, str):
        raise ModelFileError(f"model metadata: {field} must be text, got {_show(value)}")
    if len(value) > longest:
        raise ModelFileError(f"model metadata: {field} is {len(value):,} characters long, more than {longest:,}")


def _check_name(field: str, value: object) -> None:
    _check_text(field, value, MAX_NAME)
    if not value.strip() or _CONTROL.search(value):
        raise ModelFileError(
            f"model metadata: {field} must be a non-empty name without control characters, got {_show(value)}"
        )


def _check_classes(value: object) -> None:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_CLASSES:
        raise ModelFileError(
            f"model metadata: classes must be a list of 1 to {MAX_CLASSES} names, got {_show(value)}"
        )
    for name in value:
        _check_name("a class name", name)
    if len(set(value)) != len(value):
        raise ModelFileError("model metadata: class names must be distinct")


def _check_architecture(value: object) -> None:
    if not isinstance(value, dict):
        raise ModelFileError(f"model metadata: architecture must be a JSON object, got {_show(value)}")
    try:
        UNetConfig.from_dict(value)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"model metadata: bad architecture: {str(exc)[:200]}") from exc


def _check_normalization(value: object) -> None:
    if not isinstance(value, dict):
        raise ModelFileError(f"model metadata: normalization must be a JSON object, got {_show(value)}")
    unknown = sorted(set(value) - {"method", "low", "high"})
    if unknown:
        raise ModelFileError(f"model metadata: unknown normalization keys {', '.join(map(_show, unknown[:5]))}")
    method = value.get("method", "percentile")
    if method not in NORMALIZATION_METHODS:
        raise ModelFileError(
            f"model metadata: normalization method must be one of {NORMALIZATION_METHODS}, got {_show(method)}"
        )
    low, high = value.get("low", 1.0), value.get("high", 99.8)
    _check_number("normalization low", low, 0.0, 100.0)
    _check_number("normalization high", high, 0.0, 100.0)
    if not low < high:
        raise ModelFileError(f"model metadata: normalization low ({low}) must be below high ({high})")


def _check_postprocess(value: object) -> None:
    if not isinstance(value, dict):
        raise ModelFileError(f"model metadata: postprocess must be a JSON object, got {_show(value)}")
    for key, option in value.items():
        if key not in POSTPROCESS:
            raise ModelFileError(
                f"model metadata: unknown postprocess option {_show(key)}; known: {', '.join(POSTPROCESS)}"
            )
        kind, low, high = POSTPROCESS[key]
        if kind is bool:
            if not isinstance(option, bool):
                raise ModelFileError(f"model metadata: postprocess {key} must be true or false, got {_show(option)}")
        elif kind is int:
            _check_integer(f"postprocess {key}", option, int(low), int(high))
        else:
            _check_number(f"postprocess {key}", option, low, high)


def _check_metrics(value: object) -> None:
    if not isinstance(value, dict) or len(value) > MAX_CLASSES + 100:
        raise ModelFileError(f"model metadata: metrics must be a JSON object of at most {MAX_CLASSES + 100} numbers")
    for key, number in value.items():
        _check_text("a metric name", key, MAX_NAME + 20)
        if isinstance(number, bool) or not isinstance(number, (int, float)) or (
            isinstance(number, int) and abs(number) > MAX_INTEGER
        ):
            raise ModelFileError(f"model metadata: metric {_show(key)} must be a number, got {_show(number)}")


def _check_free_form(value: object) -> None:
    """``training``: any JSON object of bounded depth, count, text lengths and integers."""
    if not isinstance(value, dict):
        raise ModelFileError(f"model metadata: training must be a JSON object, got {_show(value)}")
    pending = [(value, 1)]
    seen = 0
    while pending:
        item, depth = pending.pop()
        seen += 1
        if seen > MAX_VALUES:
            raise ModelFileError(f"model metadata: training holds more than {MAX_VALUES:,} values")
        if isinstance(item, (dict, list)):
            if depth > MAX_NESTING:
                raise ModelFileError(f"model metadata: training is nested more than {MAX_NESTING} levels deep")
            children = list(item.values()) if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
            if isinstance(item, dict):
                pending.extend((key, depth + 1) for key in item)
        elif isinstance(item, str):
            _check_text("a training text", item, MAX_TEXT)
        elif isinstance(item, int) and not isinstance(item, bool) and abs(item) > MAX_INTEGER:
            raise ModelFileError(f"model metadata: training holds a whole number beyond ±2**53 ({_show(item)})")

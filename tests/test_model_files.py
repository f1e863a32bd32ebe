"""Hostile model files: each is refused with one ModelFileError line, fast, before it can cost memory.

A file refused at the metadata or header stage must be refused before any
network is built on a real device and before any tensor is read: a spy on
``medseg_core.model.UNet`` counts networks whose weights are not on the
``meta`` device, and a spy on ``safe_open`` counts tensor reads. Python
allocations are measured with ``tracemalloc``; one subprocess test checks
the resident memory of the process for the "huge architecture" files.
"""

from __future__ import annotations

import functools
import json
import math
import struct
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import save_file

import medseg_core.model as model_module
from conftest import make_tiny_model
from medseg_core.errors import ModelFileError
from medseg_core.model import ModelInfo, load_model_file, read_info
from medseg_core.unet import UNetConfig

LIMIT_S = 1.0
LIMIT_BYTES = 100 * 2**20
SHIPPED = sorted((Path(__file__).resolve().parents[1] / "resources" / "models").glob("*.safetensors"))


# ---------------------------------------------------------------- building hostile files


@functools.cache
def _tiny() -> tuple[str, dict[str, torch.Tensor]]:
    model = make_tiny_model()
    return model.info.to_json(), {k: v.contiguous() for k, v in model.net.state_dict().items()}


def _metadata() -> dict:
    """The metadata of the tiny test model, as a fresh dict to spoil."""
    return json.loads(_tiny()[0])


def _tensors() -> dict[str, torch.Tensor]:
    """The tiny test model's tensors, in a fresh dict."""
    return dict(_tiny()[1])


def _write(path: Path, metadata: dict | str | None = None, tensors: dict | None = None) -> Path:
    """A safetensors file with the tiny model's tensors (or ``tensors``) and ``metadata``."""
    meta = _metadata() if metadata is None else metadata
    text = meta if isinstance(meta, str) else json.dumps(meta)
    save_file(_tensors() if tensors is None else tensors, str(path), metadata={"medseg": text})
    return path


def _spoiled(**changes: object) -> Callable[[Path], Path]:
    """A file whose metadata has ``changes`` (``architecture__width`` reaches into a sub-object)."""

    def build(path: Path) -> Path:
        meta = _metadata()
        for key, value in changes.items():
            outer, _, inner = key.partition("__")
            if inner:
                meta[outer] = {**meta.get(outer, {}), inner: value}
            else:
                meta[outer] = value
        return _write(path, meta)

    return build


def _raw(path: Path, header: dict, body: bytes) -> Path:
    """A safetensors file written by hand: length, JSON header, data."""
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + body)
    return path


def _nested_json(depth: int) -> Callable[[Path], Path]:
    def build(path: Path) -> Path:
        text = json.dumps(_metadata())
        nested = "[" * depth + "]" * depth
        return _write(path, text[:-1] + f', "training": {{"deep": {nested}}}}}')

    return build


def _huge_integer(path: Path) -> Path:
    text = json.dumps(_metadata())
    return _write(path, text.replace('"depth": 2', '"depth": ' + "9" * 5000))


def _huge_architecture_small_tensors(path: Path) -> Path:
    """Declares the largest allowed U-Net (about 220 M parameters), holds the tiny one's 20 kB of tensors."""
    meta = _metadata()
    meta["architecture"].update(depth=6, width=256, max_width=1024)
    return _write(path, meta)


def _tensor_changed(change: Callable[[dict], None]) -> Callable[[Path], Path]:
    def build(path: Path) -> Path:
        tensors = _tensors()
        change(tensors)
        return _write(path, tensors=tensors)

    return build


def _header_claims_huge_tensor(path: Path) -> Path:
    header = {
        "__metadata__": {"medseg": json.dumps(_metadata())},
        "head.weight": {"dtype": "F32", "shape": [100_000, 100_000], "data_offsets": [0, 40_000_000_000]},
    }
    return _raw(path, header, b"\0" * 64)


def _header_claims_huge_header(path: Path) -> Path:
    path.write_bytes(struct.pack("<Q", 2**40) + b"{" + b" " * 100)
    return path


def _truncated(path: Path) -> Path:
    blob = _write(path).read_bytes()
    path.write_bytes(blob[: len(blob) // 2])
    return path


def _weights_with(value: float) -> Callable[[Path], Path]:
    def change(tensors: dict) -> None:
        tensors["head.weight"] = tensors["head.weight"].clone()
        tensors["head.weight"][0, 0] = value

    return _tensor_changed(change)


def _drop(key: str) -> Callable[[dict], None]:
    return lambda tensors: tensors.pop(key)


#: Refused from the metadata alone (``read_info`` refuses them too).
METADATA_CASES: dict[str, Callable[[Path], Path]] = {
    "format_version as text": _spoiled(format_version="2"),
    "newer format_version": _spoiled(format_version=2),
    "format_version 0": _spoiled(format_version=0),
    "depth 4.5": _spoiled(architecture__depth=4.5),
    "depth 40": _spoiled(architecture__depth=40),
    "in_channels 1.5": _spoiled(architecture__in_channels=1.5),
    "in_channels true": _spoiled(architecture__in_channels=True),
    "negative max_width": _spoiled(architecture__max_width=-8),
    "width 2500": _spoiled(architecture__width=2500, architecture__max_width=2500),
    "norm as a list": _spoiled(architecture__norm=["batch"]),
    "unknown architecture key": _spoiled(architecture__heads=4),
    "architecture as a list": _spoiled(architecture=[1, 2]),
    "threshold as text": _spoiled(postprocess__threshold="0.5"),
    "threshold 7": _spoiled(postprocess__threshold=7),
    "min_size 2.5": _spoiled(postprocess__min_size=2.5),
    "negative min_size": _spoiled(postprocess__min_size=-1),
    "single_region as 1": _spoiled(postprocess__single_region=1),
    "unknown postprocess option": _spoiled(postprocess__watershed=True),
    "postprocess as text": _spoiled(postprocess="fast"),
    "input_scale NaN": _spoiled(input_scale=math.nan),
    "input_scale infinite": _spoiled(input_scale=math.inf),
    "input_scale 50": _spoiled(input_scale=50),
    "input_scale as text": _spoiled(input_scale="1"),
    "normalization low above high": _spoiled(normalization__low=99.0, normalization__high=1.0),
    "normalization high as text": _spoiled(normalization__high="99"),
    "normalization unknown method": _spoiled(normalization__method="zscore"),
    "normalization unknown key": _spoiled(normalization__gamma=2.0),
    "classes as text": _spoiled(classes="background,nucleus"),
    "class name not text": _spoiled(classes=["background", 3]),
    "empty class name": _spoiled(classes=["background", ""]),
    "no classes": _spoiled(classes=[]),
    "too many classes": _spoiled(classes=[f"c{i}" for i in range(300)]),
    "duplicate classes": _spoiled(classes=["a", "a"]),
    "unknown task": _spoiled(task="detection"),
    "task as a list": _spoiled(task=["instance"]),
    "name not text": _spoiled(name=12),
    "empty name": _spoiled(name=""),
    "name with a line break": _spoiled(name="a\nb"),
    "very long name": _spoiled(name="n" * 5000),
    "description not text": _spoiled(description={"a": 1}),
    "very long description": _spoiled(description="d" * 50_000),
    "metadata over the size limit": _spoiled(description="d" * 300_000),
    "metric as text": _spoiled(metrics={"f1": "0.9"}),
    "metric of 40 digits": _spoiled(metrics={"f1": 10**40}),
    "metrics as a list": _spoiled(metrics=[0.9]),
    "training as text": _spoiled(training="lots"),
    "training nested 50 deep": _nested_json(50),
    "training nested 100000 deep": _nested_json(100_000),
    "training with too many values": _spoiled(training={"losses": list(range(20_000))}),
    "parent not text": _spoiled(parent=5),
    "created not text": _spoiled(created=20261130),
    "5000-digit integer": _huge_integer,
    "metadata not JSON": lambda p: _write(p, "{not json"),
    "metadata a JSON list": lambda p: _write(p, "[1, 2]"),
    "metadata lacks the architecture": lambda p: _write(
        p, json.dumps({"name": "x", "task": "instance", "classes": ["a", "b"]})
    ),
    "output channels do not fit the classes": _spoiled(classes=["background", "a", "b"], task="semantic"),
}

#: Refused from the safetensors header: the metadata is fine, no tensor is read.
HEADER_CASES: dict[str, Callable[[Path], Path]] = {
    "huge architecture, tiny tensors": _huge_architecture_small_tensors,
    "missing tensor": _tensor_changed(_drop("head.weight")),
    "extra tensor": _tensor_changed(lambda t: t.update(extra=torch.zeros(3))),
    "tensor of the wrong shape": _tensor_changed(lambda t: t.update({"head.weight": torch.zeros(2, 4, 1, 2)})),
    "weights stored as integers": _tensor_changed(
        lambda t: t.update({"head.weight": t["head.weight"].to(torch.uint8)})
    ),
    "step counter stored as float": _tensor_changed(
        lambda t: t.update({k: v.float() for k, v in t.items() if k.endswith("num_batches_tracked")})
    ),
}

#: Not safetensors files, or broken ones (``read_info`` refuses them too).
FILE_CASES: dict[str, Callable[[Path], Path]] = {
    "empty file": lambda p: (p.write_bytes(b""), p)[1],
    "pickle": lambda p: (p.write_bytes(b"\x80\x04K\x01."), p)[1],
    "truncated file": _truncated,
    "header claiming huge tensors": _header_claims_huge_tensor,
    "header claiming a 1 TB header": _header_claims_huge_header,
    "header that is not JSON": lambda p: (p.write_bytes(struct.pack("<Q", 5) + b"{{{{{"), p)[1],
    "no MedSeg metadata": lambda p: (save_file({"w": torch.zeros(2)}, str(p)), p)[1],
}

#: Refused after reading the weights (the file is small, so reading it is cheap).
WEIGHT_CASES: dict[str, Callable[[Path], Path]] = {
    "NaN weight": _weights_with(math.nan),
    "infinite weight": _weights_with(math.inf),
}


# ---------------------------------------------------------------- spies


class Spy:
    """Counts real (non-meta) networks built and tensors read by :mod:`medseg_core.model`."""

    def __init__(self) -> None:
        self.networks = 0
        self.reads = 0


@pytest.fixture
def spy(monkeypatch) -> Spy:
    record = Spy()
    real_unet, real_open = model_module.UNet, model_module.safe_open

    def unet(config: UNetConfig) -> torch.nn.Module:
        net = real_unet(config)
        if not next(net.parameters()).is_meta:
            record.networks += 1
        return net

    class Handle:
        def __init__(self, inner: object) -> None:
            self._inner = inner

        def __getattr__(self, name: str) -> object:
            return getattr(self._inner, name)

        def get_tensor(self, key: str) -> torch.Tensor:
            record.reads += 1
            return self._inner.get_tensor(key)

    class Opener:
        def __init__(self, *args: object, **kwargs: object) -> None:
            self._inner = real_open(*args, **kwargs)

        def __enter__(self) -> Handle:
            return Handle(self._inner.__enter__())

        def __exit__(self, *exc: object) -> None:
            self._inner.__exit__(*exc)

    monkeypatch.setattr(model_module, "UNet", unet)
    monkeypatch.setattr(model_module, "safe_open", Opener)
    return record


def _refusal(call: Callable[[Path], object], path: Path) -> tuple[ModelFileError, float, int]:
    """Run ``call(path)``; return the ModelFileError, the seconds taken and the Python bytes peak."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ModelFileError) as info:
            call(path)
        return info.value, time.perf_counter() - start, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _check_refusals(cases: dict, tmp_path: Path, spy: Spy, *, stage: str, calls: tuple) -> None:
    load_model_file(_write(tmp_path / "warm.safetensors"))  # imports and first-call costs are not the files'
    failures = []
    for label, build in cases.items():
        path = build(tmp_path / f"{label.replace(' ', '_')}.safetensors")
        spy.networks = spy.reads = 0
        for call in calls:
            error, seconds, peak = _refusal(call, path)
            message = str(error)
            problems = [
                "\n" in message and "message has a line break",
                seconds > LIMIT_S and f"took {seconds:.2f} s",
                peak > LIMIT_BYTES and f"allocated {peak / 2**20:.0f} MB",
                stage != "weights" and spy.networks and "built a network",
                stage != "weights" and spy.reads and "read a tensor",
            ]
            problems = [p for p in problems if p]
            if problems:
                failures.append(f"{label} ({call.__name__}): {', '.join(problems)}: {message}")
    assert not failures, "\n".join(failures)


# ---------------------------------------------------------------- the corpus


def test_bad_metadata_is_refused_before_any_tensor_or_network(tmp_path, spy):
    _check_refusals(METADATA_CASES, tmp_path, spy, stage="metadata", calls=(read_info, load_model_file))


def test_tensors_that_do_not_fit_are_refused_from_the_header(tmp_path, spy):
    _check_refusals(HEADER_CASES, tmp_path, spy, stage="header", calls=(load_model_file,))


def test_broken_files_are_refused(tmp_path, spy):
    _check_refusals(FILE_CASES, tmp_path, spy, stage="file", calls=(read_info, load_model_file))


def test_nan_and_infinite_weights_are_refused(tmp_path, spy):
    _check_refusals(WEIGHT_CASES, tmp_path, spy, stage="weights", calls=(load_model_file,))
    assert spy.networks == 0  # refused while reading, before the network is built


def test_messages_name_the_problem(tmp_path):
    expectations = {
        "format_version as text": "format_version must be a whole number",
        "newer format_version": "update MedSeg",
        "depth 4.5": "depth must be a whole number",
        "negative max_width": "max_width",
        "threshold as text": "postprocess threshold must be a number",
        "input_scale NaN": "input_scale must be from 0.05 to 4.0",
        "input_scale 50": "input_scale",
        "5000-digit integer": "not valid JSON",
        "training nested 100000 deep": "nested too deeply",
        "training nested 50 deep": "nested more than 8 levels",
        "name with a line break": "control characters",
        "metadata over the size limit": "characters long",
    }
    for label, text in expectations.items():
        path = METADATA_CASES[label](tmp_path / "m.safetensors")
        with pytest.raises(ModelFileError, match=text) as info:
            read_info(path)
        assert info.value.__class__ is ModelFileError and path.name in str(info.value), label
    for label, text in (
        ("huge architecture, tiny tensors", "do not match"),
        ("weights stored as integers", "wrong shape or type: head.weight"),
    ):
        with pytest.raises(ModelFileError, match=text):
            load_model_file(HEADER_CASES[label](tmp_path / "h.safetensors"))
    with pytest.raises(ModelFileError, match="NaN or infinite"):
        load_model_file(WEIGHT_CASES["NaN weight"](tmp_path / "n.safetensors"))
    with pytest.raises(ModelFileError, match="header claims"):
        read_info(FILE_CASES["header claiming a 1 TB header"](tmp_path / "big.safetensors"))


def test_huge_architecture_files_keep_the_process_small(tmp_path):
    """Resident memory of a fresh process loading the files (the refusals happen before any allocation)."""
    paths = [
        _huge_architecture_small_tensors(tmp_path / "huge.safetensors"),
        METADATA_CASES["width 2500"](tmp_path / "wide.safetensors"),
    ]
    script = (
        "import resource, sys\n"
        "from medseg_core.errors import ModelFileError\n"
        "from medseg_core.model import load_model_file\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "for path in sys.argv[1:]:\n"
        "    try:\n"
        "        load_model_file(path)\n"
        "    except ModelFileError:\n"
        "        pass\n"
        "    else:\n"
        "        raise SystemExit('loaded ' + path)\n"
        "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, *map(str, paths)], capture_output=True, text=True, timeout=300, check=True
    )
    assert int(done.stdout.strip()) < LIMIT_BYTES


# ---------------------------------------------------------------- good files still load


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_models_pass_the_schema(path):
    info = read_info(path)
    assert info.name == path.stem and info.summary()


def test_a_good_file_loads_and_legacy_defaults_apply(tmp_path, spy):
    meta = _metadata()
    for key in ("normalization", "input_scale", "postprocess", "description", "training", "metrics", "parent"):
        meta.pop(key)
    meta.pop("format_version")
    meta["architecture"].pop("encoder")
    meta["future_field"] = {"ignored": True}
    path = _write(tmp_path / "old.safetensors", meta)
    spy.networks = spy.reads = 0
    model = load_model_file(path)
    assert model.info.format_version == 1 and model.info.config.encoder == "plain"
    assert spy.networks == 1 and spy.reads == len(_tensors())


def test_unet_config_refuses_out_of_range_fields():
    for field, value in [("depth", 4.5), ("width", 0), ("max_width", -1), ("in_channels", 17), ("width", 2500)]:
        with pytest.raises(ValueError, match=f"{field} must be a whole number"):
            UNetConfig(**{field: value})


# ---------------------------------------------------------------- random metadata


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=12,
)
_FIELDS = [
    *sorted(_metadata()), "architecture.depth", "architecture.width", "postprocess.threshold", "normalization.low"
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes=st.dictionaries(st.sampled_from(_FIELDS), _JSON, min_size=1, max_size=3))
def test_random_metadata_gives_info_or_model_file_error(changes):
    meta = _metadata()
    for key, value in changes.items():
        outer, _, inner = key.partition(".")
        if inner and isinstance(meta.get(outer), dict):
            meta[outer][inner] = value
        else:
            meta[outer] = value
    try:
        info = ModelInfo.from_json(json.dumps(meta))
    except ModelFileError as exc:
        assert "\n" not in str(exc)
    else:
        assert info.summary() and info.config.size_multiple >= 1

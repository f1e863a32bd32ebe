"""The numbers of a shipped model agree everywhere: model file (medseg models), card and metrics.json."""

from __future__ import annotations

import json

import pytest

from medseg_core.model import read_info
from medseg_core.registry import shipped_models_dir

CARDS = sorted(shipped_models_dir().glob("*.metrics.json"))


def flat_from_card(report: dict, classes: list[str]) -> dict[str, float]:
    """The flat metric names of a model file, from a card's nested report."""
    flat = dict(report["pixel"])
    if "objects" in report:
        flat["ap50"] = report["objects"]["0.5"]["ap"]
        flat["map"] = report["objects"]["map_50_95"]
    else:
        for name in classes:
            flat[f"dice_{name}"] = report["per_class_dice"][name]
    return flat


@pytest.mark.parametrize("card", CARDS, ids=[c.name.split(".")[0] for c in CARDS])
def test_model_file_and_card_give_the_same_numbers(card):
    name = card.name.split(".")[0]
    info = read_info(shipped_models_dir() / f"{name}.safetensors")
    report = json.loads(card.read_text())["all"]
    expected = flat_from_card(report, info.classes)
    assert info.metrics == pytest.approx(expected, abs=0), name  # exactly: one scoring path
    text = (shipped_models_dir() / f"{name}.md").read_text()
    for key, value in report["pixel"].items():
        assert f"| pixel {key} | {value:.4f} |" in text

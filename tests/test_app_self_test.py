"""``medseg-app --self-test`` (medseg_app.self_test), run in this process under the test display."""

from __future__ import annotations

import os

import pytest

from medseg_app import self_test
from medseg_app.main import main
from medseg_core.registry import shipped_models_dir

pytestmark = [pytest.mark.gui, pytest.mark.slow]


@pytest.mark.skipif(not (shipped_models_dir() / "nuclei.safetensors").is_file(), reason="needs the shipped model")
def test_self_test_passes_and_prints_one_line_per_step(capsys, medseg_home):
    before = set(medseg_home.rglob("*"))
    assert main(["--self-test"]) == 0
    lines = capsys.readouterr().out.splitlines()
    steps = [line for line in lines if line.startswith("self-test: ")]
    assert [s.split(":")[1].split()[0] for s in steps] == ["window", "opened", "segmented", "wrote", "closed", "passed"]
    count = int(steps[2].split(": ")[2].split()[0])
    assert self_test.EXPECTED_COUNT[0] <= count <= self_test.EXPECTED_COUNT[1]
    assert f"({count} rows)" in steps[3]
    csv = steps[3].split("wrote ")[1].rsplit(" (", 1)[0]
    assert not os.path.exists(csv)  # written to a temporary folder, removed afterwards
    assert set(medseg_home.rglob("*")) == before  # the user's folders are left alone
    assert os.environ["MEDSEG_HOME"] == str(medseg_home)


def test_self_test_fails_in_one_line(monkeypatch):
    monkeypatch.setattr(self_test, "MODEL", "no-such-model")
    lines: list[str] = []
    assert self_test.run_self_test(lines.append) == 1
    assert lines[-1].startswith("self-test: FAILED: the shipped model 'no-such-model' is not listed")
    assert "Traceback" not in "\n".join(lines)

"""Background imports: the wait notice comes exactly when the import is still running."""

from __future__ import annotations

import sys
import threading
import types
from pathlib import Path

import pytest

from mamcli.matte.config import MatteConfig
from mamcli.runtime.warm_import import BackgroundImport


@pytest.fixture()
def gated_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """A module `gated_import_probe` whose import blocks until the returned event is set."""
    gate = types.ModuleType("gated_import_gate")
    gate.EVENT = threading.Event()
    monkeypatch.setitem(sys.modules, "gated_import_gate", gate)
    (tmp_path / "gated_import_probe.py").write_text(
        "import gated_import_gate\ngated_import_gate.EVENT.wait()\nREADY = True\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield gate.EVENT
    gate.EVENT.set()
    sys.modules.pop("gated_import_probe", None)


def test_a_slow_import_gets_the_notice_then_is_waited_for(gated_module) -> None:
    notices: list[str] = []

    def on_slow() -> None:
        notices.append("waiting")
        gated_module.set()  # the import can finish only after the notice

    BackgroundImport("gated_import_probe").wait(0.0, on_slow)
    assert notices == ["waiting"]
    assert sys.modules["gated_import_probe"].READY


def test_a_finished_import_gets_no_notice_and_errors_are_kept() -> None:
    done = BackgroundImport("json")
    done.wait(60.0, lambda: pytest.fail("json was imported long ago"))
    missing = BackgroundImport("no_such_module_for_mam")
    missing.wait(60.0, lambda: None)
    assert isinstance(missing.error, ModuleNotFoundError)


def test_which_runs_need_pymatting(tmp_path: Path) -> None:
    assert MatteConfig(out_dir=tmp_path).needs_pymatting("classic")
    assert MatteConfig(out_dir=tmp_path).needs_pymatting("mam")  # cut-outs: foreground
    alpha_only = MatteConfig(out_dir=tmp_path, outputs=("alpha", "mask"))
    assert not alpha_only.needs_pymatting("mam") and alpha_only.needs_pymatting("classic")
    plain_cutouts = MatteConfig(out_dir=tmp_path, estimate_foreground=False)
    assert not plain_cutouts.needs_pymatting("mam")
    cf = MatteConfig(out_dir=tmp_path, outputs=("alpha",))
    cf.engine.refiner = "cf"
    assert cf.needs_pymatting("mam")

"""Shared pytest fixtures: where the MindSpore ground-truth files are, and optional-dependency marks."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
LOCAL_FIXTURES = DATA / "mindspore"
SHARED_FIXTURES = ROOT.parent / "shared" / "fixtures" / "mindspore"

if os.environ.get("DSTUDIO_BLOCK_QT"):
    # Behave as an install without Qt: any import of it fails, as on a headless server.
    class _BlockQt:
        def find_spec(self, name, path=None, target=None):  # noqa: D401 - importlib protocol
            if name.split(".")[0] in {"PySide6", "shiboken6", "pyqtgraph", "studio"}:
                raise ModuleNotFoundError(f"No module named {name!r} (blocked: headless test run)")
            return None

    sys.meta_path.insert(0, _BlockQt())

HAVE_MINDSPORE = importlib.util.find_spec("mindspore") is not None


@dataclass(frozen=True)
class Fixture:
    """One MindSpore ground-truth folder: model files, inputs and MindSpore's outputs."""

    name: str
    folder: Path

    @property
    def mindir(self) -> Path:
        return self.folder / "model.mindir"

    @property
    def ckpt(self) -> Path:
        return self.folder / "model.ckpt"

    @property
    def onnx(self) -> Path:
        return self.folder / "model.onnx"

    @property
    def meta(self) -> dict:
        return json.loads((self.folder / "meta.json").read_text())

    def inputs(self) -> list[np.ndarray]:
        return [np.load(self.folder / i["file"]) for i in self.meta["inputs"]]

    def expected(self) -> list[np.ndarray]:
        return [np.load(self.folder / o["file"]) for o in self.meta["outputs"]]


LOCAL_NAMES = ("lenet5", "mlp_bn_dropout", "tiny_transformer", "mobilenetv2_small")
ALL_NAMES = LOCAL_NAMES + ("resnet18",)


def fixture_by_name(name: str) -> Fixture:
    """A fixture from tests/data if copied there, else from ../shared; skip when absent."""
    for base in (LOCAL_FIXTURES, SHARED_FIXTURES):
        if (base / name / "model.mindir").exists():
            return Fixture(name, base / name)
    pytest.skip(f"fixture {name} not found in tests/data or ../shared")


@pytest.fixture(params=ALL_NAMES)
def ms_fixture(request) -> Fixture:
    """Each MindSpore fixture in turn (resnet18 from ../shared, skipped when absent)."""
    return fixture_by_name(request.param)


@pytest.fixture
def lenet5() -> Fixture:
    return fixture_by_name("lenet5")


def pytest_collection_modifyitems(config, items):
    if HAVE_MINDSPORE:
        return
    skip = pytest.mark.skip(reason="MindSpore not installed (pip install 'deploy-studio[mindspore]')")
    for item in items:
        if "mindspore" in item.keywords:
            item.add_marker(skip)

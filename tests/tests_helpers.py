"""Where the MindSpore ground-truth files are; importable from any test module as `tests_helpers`."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
LOCAL_FIXTURES = DATA / "mindspore"
SHARED_FIXTURES = ROOT.parent / "shared" / "fixtures" / "mindspore"

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




def fixture_or_skip(name: str) -> Fixture:
    return fixture_by_name(name)

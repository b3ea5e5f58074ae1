"""Shared pytest fixtures: where the MindSpore ground-truth files are, and optional-dependency marks."""

from __future__ import annotations

import os
import sys
import pytest

from tests_helpers import ALL_NAMES, HAVE_MINDSPORE, Fixture, fixture_by_name  # noqa: F401

if os.environ.get("DSTUDIO_BLOCK_QT"):
    # Behave as an install without Qt: any import of it fails, as on a headless server.
    class _BlockQt:
        def find_spec(self, name, path=None, target=None):  # noqa: D401 - importlib protocol
            if name.split(".")[0] in {"PySide6", "shiboken6", "pyqtgraph", "studio"}:
                raise ModuleNotFoundError(f"No module named {name!r} (blocked: headless test run)")
            return None

    sys.meta_path.insert(0, _BlockQt())

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

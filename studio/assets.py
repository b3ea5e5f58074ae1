"""Where the studio's assets are: the ``studio.resources`` package, which the build maps from the top-level ``resources/``."""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

log = logging.getLogger(__name__)

#: The package name the assets ship under (setup.py maps it onto the top-level resources/ folder).
PACKAGE = "studio.resources"


def resource_root() -> Traversable:
    """The folder of assets, found through ``importlib.resources`` (source, wheel or frozen app alike).

    A wheel and the frozen app hold ``studio/resources/`` inside the package; an editable
    install maps the name onto the checkout's ``resources/``. A checkout whose install
    predates that mapping (or that runs without an install) falls back to the folder
    beside the package, found from this file, never from the working directory.
    """
    try:
        root = resources.files(PACKAGE)
        if root.joinpath("icons").is_dir():
            return root
    except ModuleNotFoundError:
        pass
    source = Path(__file__).resolve().parent.parent / "resources"
    log.debug("%s is not importable here; using %s", PACKAGE, source)
    return source


def resource(*parts: str) -> Traversable:
    """One asset: ``resource("samples", "lenet5.mindir")``."""
    node = resource_root()
    for part in parts:
        node = node.joinpath(part)
    return node

"""Frozen entry of the packaged app: freeze_support, then ``--self-test``, ``--startup-probe`` or the dstudio CLI."""

from __future__ import annotations

import importlib
import importlib.util
import multiprocessing
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

DIST_NAME = "deploy-studio"
GUI_GROUP = "deploy_studio.gui"
#: Modules the engine imports lazily, inside the passes and backends that need them, so a bundle
#: can lack them unnoticed until a person picks that pass. ``fusion_utils`` is imported by ONNX
#: Runtime as a top-level name after it edits sys.path, which PyInstaller cannot follow.
REQUIRED_IMPORTS = (
    "onnx.reference", "onnxruntime.quantization.quantize", "onnxruntime.quantization.shape_inference",
    "onnxruntime.transformers.float16", "fusion_utils",
)
#: Lazy imports from optional extras (``optimize``), each with the module whose presence at build
#: time means it must be bundled; build.py lists those in DSTUDIO_SELFTEST_EXPECT.
OPTIONAL_IMPORTS = {
    "onnx_ir": "onnx_ir", "onnxscript.optimizer": "onnxscript", "sympy": "sympy", "symbolic_shape_infer": "sympy",
}
EXPECT_ENV = "DSTUDIO_SELFTEST_EXPECT"


def packaging_problems() -> list[str]:
    """What is wrong with this bundle (empty when it is complete): metadata, entry point, resources, exclusions."""
    from importlib import metadata, resources

    from engine import __version__

    problems = []
    try:
        if metadata.version(DIST_NAME) != __version__:
            problems.append(f"bundled metadata says {metadata.version(DIST_NAME)}, engine says {__version__}")
    except metadata.PackageNotFoundError:
        problems.append(f"the {DIST_NAME} dist-info is not bundled (copy_metadata)")
    names = [ep.value for ep in metadata.entry_points(group=GUI_GROUP)]
    if not names:
        problems.append(f"no {GUI_GROUP} entry point: `dstudio` with no arguments could not open the window")
    # The assets are the package studio.resources (mapped from the top-level resources/ at build
    # time); asked for by that name, with no fallback, so a bundle without it fails here.
    try:
        assets = resources.files("studio.resources")
    except ModuleNotFoundError:
        problems.append("the package studio.resources (icons, sample model) is not bundled")
    else:
        if not assets.joinpath("samples", "lenet5.mindir").is_file():
            problems.append("the sample model studio/resources/samples/lenet5.mindir is not bundled")
        if not assets.joinpath("icons", "deploy-studio.svg").is_file():
            problems.append("the icons studio/resources/icons/*.svg are not bundled")
    if getattr(sys, "frozen", False):
        expected = [name for name in os.environ.get(EXPECT_ENV, "").split(",") if name in OPTIONAL_IMPORTS]
        for name in (*REQUIRED_IMPORTS, *expected):
            try:
                importlib.import_module(name)
            except ImportError as exc:
                problems.append(f"{name} cannot be imported ({exc}): a pass or backend would fail")
        if importlib.util.find_spec("mindspore") is not None:
            problems.append("mindspore is bundled (it must stay an optional, separately installed dependency)")
        try:
            metadata.version("mindspore")
            problems.append("mindspore's dist-info is bundled: the app would report a MindSpore it cannot import")
        except metadata.PackageNotFoundError:
            pass
    return problems


def _cli_smoke() -> int:
    """Fallback when studio.selftest is absent: convert the sample and time it through the CLI."""
    from importlib import resources

    from engine.cli import main as cli_main

    sample = resources.files("studio.resources") / "samples" / "lenet5.mindir"
    with tempfile.TemporaryDirectory(prefix="dstudio-selftest-") as tmp, resources.as_file(sample) as path:
        out = str(Path(tmp) / "lenet5.onnx")
        status = cli_main(["convert", str(path), "-o", out])
        if status == 0:
            status = cli_main(["bench", out, "-n", "5", "--warmup", "1", "--no-history"])
    return status


def self_test() -> int:
    """The installers' smoke test: packaging checks, then :func:`studio.selftest.run` off screen."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    problems = packaging_problems()
    for problem in problems:
        print(f"self-test: {problem}", file=sys.stderr)
    if problems:
        return 1
    print("self-test: bundle complete (metadata, GUI entry point, sample model)", flush=True)
    if importlib.util.find_spec("studio.selftest") is None:
        print("self-test: studio.selftest is missing; falling back to dstudio convert + bench", file=sys.stderr)
        return _cli_smoke()
    from studio.selftest import run

    return int(run() or 0)


def startup_probe(files: Sequence[str]) -> int:
    """Show the main window off screen, print ``window-shown <epoch seconds>`` once it is up, and exit."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QTimer

    from studio.app import ensure_app
    from studio.main_window import MainWindow
    from studio.settings import Settings

    app = ensure_app(offscreen=True)
    shown: list[float] = []

    def first_loop_turn() -> None:  # the window is shown and the event loop runs: what a person sees
        shown.append(time.time())
        app.quit()

    with tempfile.TemporaryDirectory(prefix="dstudio-probe-") as tmp:
        window = MainWindow(settings=Settings(Path(tmp) / "settings.ini"))  # a first start, user settings untouched
        window.show()
        if files:
            window.open_files(list(files))
        QTimer.singleShot(0, first_loop_turn)
        app.exec()
        window.close()
    print(f"window-shown {shown[0]:.6f}", flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    multiprocessing.freeze_support()  # the MindSpore backend's spawned workers re-enter here
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--self-test"]:
        return self_test()
    if argv[:1] == ["--startup-probe"]:
        return startup_probe(argv[1:])
    from engine.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())

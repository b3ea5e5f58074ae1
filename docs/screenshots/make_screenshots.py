"""Regenerate the README screenshots by driving the real window off screen (light and dark palettes).

Run: ``.venv/bin/python docs/screenshots/make_screenshots.py [--only NAME ...]``. Each picture comes
from real work at 1280x800: the benchmark one after a profiled run (graph coloured by per-node time,
hottest node selected, per-layer table), the validate one after a failed validation (first divergent
node selected), the inputs one after choosing the dynamic dims of a [batch, 3, H, W] model and timing
it, the refused conversion with every blocking node selected (the dialog drawn over the window).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent
DATA = ROOT / "tests" / "data" / "mindspore"
SIZE = (1280, 800)
SHARED = ROOT.parent / "shared" / "fixtures" / "mindspore"

log = logging.getLogger("make_screenshots")


def _dark_palette():  # -> QPalette
    from PySide6.QtGui import QColor, QPalette

    palette = QPalette()
    roles = {
        QPalette.ColorRole.Window: "#2b2b2b", QPalette.ColorRole.WindowText: "#e0e0e0",
        QPalette.ColorRole.Base: "#1e1e1e", QPalette.ColorRole.AlternateBase: "#262626",
        QPalette.ColorRole.Text: "#e0e0e0", QPalette.ColorRole.Button: "#333333",
        QPalette.ColorRole.ButtonText: "#e0e0e0", QPalette.ColorRole.Highlight: "#2f7bd8",
        QPalette.ColorRole.HighlightedText: "#ffffff", QPalette.ColorRole.Mid: "#555555",
        QPalette.ColorRole.ToolTipBase: "#333333", QPalette.ColorRole.ToolTipText: "#e0e0e0",
        QPalette.ColorRole.PlaceholderText: "#8a8a8a",
    }
    for role, colour in roles.items():
        palette.setColor(role, QColor(colour))
    from studio.palette import with_readable_disabled

    return with_readable_disabled(palette)


def _wait(app, done: Callable[[], bool], timeout_s: float = 300.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError("the window did not finish in time")
        app.processEvents()
        time.sleep(0.01)


def _settle(app, window, seconds: float = 0.6) -> None:
    _wait(app, lambda: not window.runner.running())
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def _window(app, tmp: Path):
    from studio.main_window import MainWindow
    from studio.settings import Settings

    window = MainWindow(settings=Settings(tmp / "settings.ini"))
    window.resize(*SIZE)
    window.show()
    return window


def _open(app, window, path: Path) -> None:
    opened: list[object] = []
    failed: list[object] = []
    window.document_opened.connect(opened.append)
    window.open_failed.connect(lambda *a: failed.append(a))
    window.open_files([path])
    _wait(app, lambda: bool(opened) or bool(failed))
    _settle(app, window)


def shot_graph(app, window, tmp: Path) -> None:
    _open(app, window, DATA / "lenet5" / "model.mindir")
    view = window.current_view()
    view.find("Conv2D")
    window.bench_dock.raise_()


def shot_benchmark(app, window, tmp: Path) -> None:
    _open(app, window, DATA / "mobilenetv2_small" / "model.mindir")  # per-layer rows named as the graph names them
    bench = window.bench
    bench.warmup.setValue(20)
    bench.iterations.setValue(2000)
    bench.profile.setChecked(True)
    done: list[object] = []
    bench.run_finished.connect(done.append)
    bench.run()
    _wait(app, lambda: bool(done))
    _settle(app, window)
    window.bench_dock.raise_()


def shot_validate(app, window, tmp: Path) -> None:
    import numpy as np
    import onnx
    from onnx import numpy_helper

    source = DATA / "lenet5" / "model.onnx"
    proto = onnx.load(source)
    consumer = {i: n for n in proto.graph.node for i in n.input}
    init = next(t for t in proto.graph.initializer if t.name in consumer and consumer[t.name].op_type == "Gemm")
    init.CopyFrom(numpy_helper.from_array((numpy_helper.to_array(init) + 1.0).astype(np.float32), init.name))
    changed = tmp / "lenet5-perturbed.onnx"
    onnx.save(proto, changed)
    _open(app, window, source)
    _open(app, window, changed)
    window.tabs.setCurrentIndex(0)
    panel = window.validate_panel
    panel.refresh_choices()
    panel.compare.setCurrentIndex(panel.compare.findText(f"model {changed.name}"))
    done: list[object] = []
    panel.validated.connect(done.append)
    window.validate_dock.raise_()
    panel.run()
    _wait(app, lambda: bool(done))
    _settle(app, window)


def shot_bad_file(app, window, tmp: Path) -> None:
    bad = tmp / "truncated.mindir"
    bad.write_bytes((DATA / "lenet5" / "model.mindir").read_bytes()[:700])
    failed: list[object] = []
    window.open_failed.connect(lambda *a: failed.append(a))
    window.open_files([bad])
    _wait(app, lambda: bool(failed))
    _settle(app, window)
    window.log_dock.raise_()


def shot_checkpoint_diff(app, window, tmp: Path) -> None:
    import numpy as np

    from engine import formats
    from studio.diff_task import start_diff

    ckpt = DATA / "lenet5" / "model.ckpt"
    _open(app, window, ckpt)
    params = dict(formats.load(ckpt).params.items())
    names = list(params)
    params[names[0]] = params[names[0]] * 1.01
    params[names[-1]] = params[names[-1]][..., :-1] if params[names[-1]].ndim else params[names[-1]]
    del params[names[1]]
    params["extra.bias"] = np.zeros(4, np.float32)
    other = tmp / "lenet5-finetuned.npz"
    np.savez(other, **params)
    view = window.current_view()
    start_diff(window, view.document, other)
    _wait(app, lambda: view.params_view.diff_box.isVisible())
    _settle(app, window)


def _dynamic_mobilenet(tmp: Path) -> Path:
    """mobilenetv2_small with input [batch, 3, H, W] (it pools globally, so any size runs)."""
    import onnx

    model = onnx.load(DATA / "mobilenetv2_small" / "model.onnx")
    dims = model.graph.input[0].type.tensor_type.shape.dim
    for axis, name in ((0, "batch"), (2, "H"), (3, "W")):
        dims[axis].ClearField("dim_value")
        dims[axis].dim_param = name
    for output in model.graph.output:
        out_dims = output.type.tensor_type.shape.dim
        if len(out_dims):
            out_dims[0].ClearField("dim_value")
            out_dims[0].dim_param = "batch"
    del model.graph.value_info[:]
    path = tmp / "mobilenetv2-dynamic" / "model.onnx"
    path.parent.mkdir()
    onnx.save(model, path)
    return path


def shot_inputs(app, window, tmp: Path) -> None:
    _open(app, window, _dynamic_mobilenet(tmp))
    window.show_inputs()
    panel = window.input_panel
    panel.set_dim("x", 2, 224)
    panel.set_dim("x", 3, 224)
    bench = window.bench
    bench.warmup.setValue(10)
    bench.iterations.setValue(300)
    done: list[object] = []
    bench.run_finished.connect(done.append)
    window.bench_dock.raise_()
    bench.run()
    _wait(app, lambda: bool(done))
    _settle(app, window)


def shot_resnet18(app, window, tmp: Path) -> None:
    path = SHARED / "resnet18" / "model.mindir"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is not here (the shared fixtures hold resnet18)")
    _open(app, window, path)
    # opens at 1:1 at the top; then a weight inside layer1.0.conv1 clicked: its statistics and histogram
    view = window.current_view()
    conv = next(n for n in view.graph_view.graph.nodes if n.title == "layer1.0.conv1")
    view.select_node(conv.id)
    view.graph_view.weight_selected.emit(conv.id, conv.weights[0].name)
    _settle(app, window)


def shot_refused(app, window, tmp: Path):
    from studio.convert_dialog import ConvertDialog

    _open(app, window, ROOT / "tests" / "data" / "mindir_unknown" / "lenet5_renamed" / "model.mindir")
    dialog = ConvertDialog(window, window.current_document())
    dialog.destination.setText(str(tmp / "lenet5.onnx"))
    dialog.show()
    dialog.run_button.click()
    _wait(app, lambda: dialog.task is not None and dialog.task.state == "failed" and bool(dialog.selected_blockers))
    _settle(app, window)
    return dialog


SHOTS: dict[str, tuple[Callable, bool]] = {
    "inputs-dynamic-shape": (shot_inputs, False),
    "mindir-resnet18": (shot_resnet18, False),
    "refused-conversion": (shot_refused, False),
    "mindir-graph": (shot_graph, False),
    "benchmark": (shot_benchmark, False),
    "validate": (shot_validate, False),
    "bad-file": (shot_bad_file, False),
    "checkpoint-diff": (shot_checkpoint_diff, False),
    "mindir-graph-dark": (shot_graph, True),
    "benchmark-dark": (shot_benchmark, True),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=sorted(SHOTS), help="make only these")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sys.path.insert(0, str(ROOT))
    from studio.app import ensure_app

    app = ensure_app(offscreen=True)
    app.setStyle("Fusion")
    light = app.palette()
    for name in args.only or SHOTS:
        make, dark = SHOTS[name]
        with tempfile.TemporaryDirectory(prefix="dstudio-shots-") as raw:
            tmp = Path(raw)
            os.environ["DSTUDIO_DATA_DIR"] = str(tmp / "data")
            app.setPalette(_dark_palette() if dark else light)
            window = _window(app, tmp)
            try:
                dialog = make(app, window, tmp)
                path = OUT / f"{name}.png"
                picture = window.grab()
                if dialog is not None:  # a dialog is its own top-level window: draw it over the main one
                    from PySide6.QtGui import QPainter

                    painter = QPainter(picture)
                    over = dialog.grab()
                    # bottom right, over the docks, so the graph's selected nodes stay in view
                    painter.drawPixmap(picture.width() - over.width() - 12, picture.height() - over.height() - 30, over)
                    painter.end()
                    dialog.close()
                if not picture.save(str(path), "PNG"):
                    raise OSError(f"could not write {path}")
                log.info("wrote %s", path)
            finally:
                window.close()
                window.deleteLater()
                app.processEvents()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Longest GUI event-loop stall while the studio benchmarks and converts: a 5 ms QTimer records the gaps.

Run: ``.venv/bin/python benchmarks/gui_stall.py``. Prints the longest and p99 gap between timer
ticks during (1) a 1,000-iteration benchmark of lenet5 and (2) a conversion of resnet18 (from
../shared when present, else mobilenetv2_small), against a 50 ms target. Timings are
machine-dependent; this prints figures and never fails on them.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parent.parent
TARGET_MS = 50.0


def find_model(name: str, file: str) -> Path | None:
    for base in (ROOT / "tests" / "data" / "mindspore", ROOT.parent / "shared" / "fixtures" / "mindspore"):
        if (base / name / file).is_file():
            return base / name / file
    return None


class StallMeter:
    """A 5 ms timer on the GUI thread; the gaps between its ticks are the event-loop stalls."""

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.gaps_ms: list[float] = []
        self._last = time.perf_counter()
        self.timer = QTimer()
        self.timer.setInterval(5)
        self.timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps_ms.append((now - self._last) * 1e3)
        self._last = now

    def start(self) -> None:
        self.gaps_ms.clear()
        self._last = time.perf_counter()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()


def run_until(app, done, timeout_s: float = 600.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not done() and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.001)


def report(label: str, gaps: list[float], seconds: float) -> None:
    import numpy as np

    arr = np.asarray(gaps) if gaps else np.asarray([0.0])
    worst = float(arr.max())
    verdict = "ok" if worst < TARGET_MS else f"OVER the {TARGET_MS:.0f} ms target"
    print(f"{label:<44} {seconds:7.2f} s  ticks {arr.size:6d}  longest stall {worst:7.1f} ms  "
          f"p99 {np.percentile(arr, 99):6.1f} ms  median {np.median(arr):5.1f} ms  [{verdict}]")


def main() -> int:
    from studio.app import ensure_app
    from studio.main_window import MainWindow
    from studio.settings import Settings

    app = ensure_app(offscreen=True)
    tmp = tempfile.TemporaryDirectory(prefix="gui-stall-")
    os.environ.setdefault("DSTUDIO_DATA_DIR", tmp.name)
    window = MainWindow(settings=Settings(Path(tmp.name) / "settings.ini"))
    window.resize(1400, 900)
    window.show()
    meter = StallMeter()

    lenet = find_model("lenet5", "model.onnx")
    window.open_files([lenet])
    run_until(app, lambda: window.current_document() is not None)
    window.bench.warmup.setValue(10)
    window.bench.iterations.setValue(1000)
    finished: list[object] = []
    window.bench.run_finished.connect(finished.append)
    meter.start()
    t0 = time.perf_counter()
    window.bench.run()
    run_until(app, lambda: bool(finished) or not window.runner.running())
    meter.stop()
    report(f"benchmark lenet5, 1,000 iterations ({window.bench.plot.point_count()} plotted)",
           meter.gaps_ms, time.perf_counter() - t0)

    name = "resnet18" if find_model("resnet18", "model.mindir") else "mobilenetv2_small"
    source = find_model(name, "model.mindir")
    out = Path(tmp.name) / f"{name}.onnx"
    done: list[object] = []

    def work(job):
        from engine.convert import convert

        return convert(source, out, job=job)

    meter.start()
    t0 = time.perf_counter()
    window.runner.start("stall", f"Convert {name}", work, on_result=done.append, on_error=done.append)
    run_until(app, lambda: bool(done))
    meter.stop()
    report(f"convert {name}.mindir -> ONNX ({out.stat().st_size / 1e6:.1f} MB)", meter.gaps_ms,
           time.perf_counter() - t0)

    opened: list[object] = []
    window.document_opened.connect(opened.append)
    meter.start()
    t0 = time.perf_counter()
    window.open_files([source])
    run_until(app, lambda: bool(opened) or not window.runner.running())
    meter.stop()
    report(f"open {name}.mindir (load, summary, layout, draw)", meter.gaps_ms, time.perf_counter() - t0)
    window.close()
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Longest GUI event-loop stall while the studio benchmarks, converts and opens: a 5 ms QTimer records the gaps.

Run: ``.venv/bin/python benchmarks/gui_stall.py [--repeat N]``. Prints the longest, p99 and median gap
between timer ticks during: a 1,000-iteration benchmark of lenet5 (what the issue names; short,
about 0.2 s on a fast machine), a 2 s benchmark of lenet5 (enough ticks to judge), a profiled
1,000-iteration benchmark of mobilenetv2_small (the end of the run colours and centres the graph),
a conversion of resnet18 (from ../shared when present, else mobilenetv2_small), and opening it
(load, summary, layout, outline and first paint, plus 0.5 s for deferred work), against a 50 ms
target. A scenario with fewer than 100 ticks is flagged as too short to judge. With --repeat
each scenario runs N times and the worst and median of the longest stalls are printed.
Benchmarks run in the studio's benchmark worker process (studio.bench_panel.RUN_IN_SUBPROCESS);
--in-process times them on the studio's own thread pool instead, for comparison.
Timings are machine-dependent (a loaded 2-core box doubles them); this never fails on them.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parent.parent
TARGET_MS = 50.0
EVENTS: EventTimes | None = None
WHY_FRACTION = 1.0  # --why explains the stalls over this fraction of the target


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
        self.ticks: list[float] = []
        self.cpu_ms: list[float] = []  # the GUI thread's own CPU time in each gap: a load-independent proxy
        self._cpu = time.thread_time()
        self._last = time.perf_counter()
        self.timer = QTimer()
        self.timer.setInterval(5)
        self.timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps_ms.append((now - self._last) * 1e3)
        self.ticks.append(now)
        cpu = time.thread_time()
        self.cpu_ms.append((cpu - self._cpu) * 1e3)
        self._cpu = cpu
        self._last = now

    def start(self) -> None:
        if EVENTS is not None:
            EVENTS.events.clear()
        self.gaps_ms.clear()
        self._last = time.perf_counter()
        self.ticks[:] = [self._last]
        self.cpu_ms.clear()
        self._cpu = time.thread_time()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()


class EventTimes:
    """With --why: the event deliveries (QApplication.notify, timed) inside each stall over the target."""

    def __init__(self) -> None:
        import gc

        self.depth = 0
        self.events: list[tuple[float, float, int, str]] = []  # (start, ms, depth, what)
        self._gc_start = 0.0
        gc.callbacks.append(self._on_gc)  # cycle collections are stalls too

    def _on_gc(self, phase: str, info: dict) -> None:
        now = time.perf_counter()
        if phase == "start":
            self._gc_start = now
        elif (now - self._gc_start) * 1e3 > 2:
            self.events.append((self._gc_start, (now - self._gc_start) * 1e3, self.depth,
                                f"gc.collect generation {info.get('generation')} ({info.get('collected')} freed)"))

    def app_class(self):
        from PySide6.QtWidgets import QApplication

        times = self

        class TimedApplication(QApplication):
            def notify(self, receiver, event):  # noqa: N802 (Qt's name)
                kind = event.type()
                times.depth += 1
                t0 = time.perf_counter()
                try:
                    return super().notify(receiver, event)
                finally:
                    times.depth -= 1
                    ms = (time.perf_counter() - t0) * 1e3
                    if ms > 2 and times.depth < 4:
                        times.events.append((t0, ms, times.depth, f"{times.describe(receiver)} {kind.name}"))

        return TimedApplication

    @staticmethod
    def describe(obj) -> str:
        """``Class#name`` of the receiver and of its first two parents (an unnamed viewport says little alone)."""
        parts = []
        for _ in range(3):
            if obj is None:
                break
            try:
                name = obj.objectName() if hasattr(obj, "objectName") else ""
            except RuntimeError:  # deleted while its event was delivered
                parts.append(type(obj).__name__)
                break
            parts.append(f"{type(obj).__name__}{'#' + name if name else ''}")
            obj = obj.parent() if hasattr(obj, "parent") else None
        return " < ".join(parts)

    def flush(self, ticks: list[float]) -> None:
        """Print the events inside each gap between ticks that is over the target."""
        for before, after in zip(ticks, ticks[1:]):
            if (after - before) * 1e3 < TARGET_MS * WHY_FRACTION:
                continue
            inside = sorted(e for e in self.events if before <= e[0] < after)
            covered = sum(e[1] for e in inside if e[2] == 0)
            print(f"    stall {(after - before) * 1e3:.1f} ms; top-level events over 2 ms cover {covered:.1f} ms:")
            for start, ms, depth, what in inside:
                print(f"      {'  ' * depth}+{(start - before) * 1e3:5.1f} {ms:6.1f} ms  {what}")
        self.events.clear()


def run_until(app, done, timeout_s: float = 600.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not done() and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.001)


def report(label: str, gaps: list[float], seconds: float, ticks: list[float] = (), cpu: list[float] = ()) -> float:
    """Print one scenario's figures; return its longest stall in ms."""
    import numpy as np

    arr = np.asarray(gaps) if gaps else np.asarray([0.0])
    worst = float(arr.max())
    verdict = "ok" if worst < TARGET_MS else f"OVER the {TARGET_MS:.0f} ms target"
    if arr.size < 100:
        verdict += ", too short to judge"
    print(f"{label:<58} {seconds:6.2f} s  ticks {arr.size:5d}  longest {worst:6.1f} ms  "
          f"p99 {np.percentile(arr, 99):6.1f} ms  median {np.median(arr):4.1f} ms  [{verdict}]", flush=True)
    if len(cpu):
        print(f"{'':<58} GUI thread's own CPU time: most in one gap {max(cpu):6.1f} ms", flush=True)
    if EVENTS is not None:
        EVENTS.flush(list(ticks))
    return worst


def bench(app, window, meter, model: Path, label: str, *, iterations: int | None = None,
          duration_s: float | None = None, profile: bool = False) -> float:
    """Open ``model`` (not measured), then measure one benchmark run from the panel."""
    opened: list[object] = []
    window.document_opened.connect(opened.append)
    window.open_files([model])
    run_until(app, lambda: bool(opened) or (window.current_document() is not None
                                            and window.current_document().path == model))
    window.document_opened.disconnect(opened.append)
    run_until(app, lambda: not window.runner.running())
    panel = window.bench
    panel.warmup.setValue(10)
    panel.stop_by.setCurrentText("duration" if duration_s else "iterations")
    if duration_s:
        panel.duration.setValue(duration_s)
    else:
        panel.iterations.setValue(iterations or 1000)
    panel.profile.setChecked(profile)
    finished: list[object] = []
    panel.run_finished.connect(finished.append)
    meter.start()
    t0 = time.perf_counter()
    panel.run()
    run_until(app, lambda: bool(finished) or not window.runner.running())
    seconds = time.perf_counter() - t0
    run_until(app, lambda: False, 0.3)  # what the end of the run queued (colouring, centring) counts too
    meter.stop()
    panel.run_finished.disconnect(finished.append)
    return report(f"{label} ({panel.plot.point_count()} plotted)", meter.gaps_ms, seconds, meter.ticks, meter.cpu_ms)


def convert_and_open(app, window, meter, name: str, tmp: Path, index: int) -> tuple[float, float]:
    source = find_model(name, "model.mindir")
    out = tmp / f"{name}-{index}.onnx"
    done: list[object] = []

    def work(job):
        from engine.convert import convert

        count = 0
        started = time.perf_counter()
        while count == 0 or time.perf_counter() - started < 1.0:  # one conversion is too short to judge
            convert(source, out, job=job)
            count += 1
        return count

    meter.start()
    t0 = time.perf_counter()
    window.runner.start("stall", f"Convert {name}", work, on_result=done.append, on_error=done.append)
    run_until(app, lambda: bool(done))
    meter.stop()
    if isinstance(done[0], BaseException):
        raise SystemExit(f"converting {source} failed: {done[0]}")
    converted = report(f"convert {name}.mindir -> ONNX x{done[0]} ({out.stat().st_size / 1e6:.1f} MB)",
                       meter.gaps_ms, time.perf_counter() - t0, meter.ticks, meter.cpu_ms)

    for i in reversed(range(window.tabs.count())):  # open it afresh each repeat
        if window.documents()[i].path == source:
            window.close_tab(i)
    run_until(app, lambda: False, 0.3)  # closing the tab (repaint, deferred deletes) is not the open being measured
    opened: list[object] = []
    window.document_opened.connect(opened.append)
    meter.start()
    t0 = time.perf_counter()
    window.open_files([source])
    run_until(app, lambda: bool(opened) or not window.runner.running())
    view = window.current_view()
    run_until(app, lambda: view is not None and view.graph_view is not None and view.graph_view.paint_count > 0, 30)
    seconds = time.perf_counter() - t0
    run_until(app, lambda: False, 0.5)
    meter.stop()
    window.document_opened.disconnect(opened.append)
    shown = report(f"open {name}.mindir (load, summary, layout, outline, paint)", meter.gaps_ms, seconds, meter.ticks, meter.cpu_ms)
    return converted, shown


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="run each scenario this many times")
    parser.add_argument("--only", default="", help="run only the scenarios whose name contains this (bench, profiled, convert, open)")
    parser.add_argument("--why", action="store_true",
                        help="also print every event delivery over 15 ms (receiver and event type) after each scenario")
    parser.add_argument("--why-above", type=float, default=TARGET_MS, metavar="MS",
                        help=f"with --why, explain the stalls longer than this (default {TARGET_MS:.0f} ms)")
    parser.add_argument("--in-process", action="store_true",
                        help="time benchmarks in the studio's process (the old way), not in its worker process")
    args = parser.parse_args(argv)
    import numpy as np

    from studio import bench_panel
    from studio.app import ensure_app
    from studio.main_window import MainWindow
    from studio.settings import Settings

    bench_panel.RUN_IN_SUBPROCESS = not args.in_process
    print(f"benchmarks run {'in the studio process' if args.in_process else 'in a worker process'}", flush=True)
    global EVENTS, WHY_FRACTION
    WHY_FRACTION = args.why_above / TARGET_MS
    if args.why:
        EVENTS = EventTimes()
        EVENTS.app = EVENTS.app_class()(sys.argv[:1])  # kept: ensure_app finds it
    app = ensure_app(offscreen=True)
    tmp = tempfile.TemporaryDirectory(prefix="gui-stall-")
    os.environ.setdefault("DSTUDIO_DATA_DIR", tmp.name)
    window = MainWindow(settings=Settings(Path(tmp.name) / "settings.ini"))
    window.resize(1400, 900)
    window.show()
    run_until(app, lambda: False, 1.0)  # start-up (first paint, polishing every widget and menu) is not measured
    meter = StallMeter()
    lenet = find_model("lenet5", "model.onnx")
    mobilenet = find_model("mobilenetv2_small", "model.onnx")
    name = "resnet18" if find_model("resnet18", "model.mindir") else "mobilenetv2_small"
    worst: dict[str, list[float]] = {}
    for i in range(args.repeat):
        for key, kwargs in (("benchmark lenet5, 1,000 iterations", dict(iterations=1000)),
                            ("benchmark lenet5, 2 s", dict(duration_s=2.0)),
                            ("profiled benchmark mobilenetv2_small, 1,000 it.", dict(iterations=1000, profile=True))):
            if args.only and args.only not in key:
                continue
            model = mobilenet if "mobilenet" in key else lenet
            worst.setdefault(key, []).append(bench(app, window, meter, model, key, **kwargs))
        if args.only and args.only not in ("convert", "open"):
            continue
        converted, shown = convert_and_open(app, window, meter, name, Path(tmp.name), i)
        worst.setdefault(f"convert {name}", []).append(converted)
        worst.setdefault(f"open {name}", []).append(shown)
    if args.repeat > 1:
        print(f"\nlongest stall over {args.repeat} repeats (target {TARGET_MS:.0f} ms):")
        for key, values in worst.items():
            print(f"  {key:<52} worst {max(values):6.1f} ms  median {float(np.median(values)):6.1f} ms")
    window.close()
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())

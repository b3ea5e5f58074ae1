"""Smoke test for packaged builds: open the sample off screen, convert it, time a few iterations."""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

log = logging.getLogger(__name__)


def run(timeout_s: float = 120.0) -> int:
    """Open the bundled sample, convert it to ONNX, run a short benchmark; 0 when all worked.

    Everything goes through the real window and worker threads, so a frozen build that lacks
    a Qt plugin, a resource or a runtime fails here rather than in a person's hands.
    """
    logging.basicConfig(level=logging.INFO, format="self-test: %(levelname)s: %(message)s")
    from studio.app import ensure_app, wait_for_jobs

    app = ensure_app(offscreen=True)
    from studio.main_window import MainWindow
    from studio.settings import Settings
    from studio.welcome import sample_model

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="dstudio-selftest-") as tmp:
        window = MainWindow(settings=Settings(Path(tmp) / "settings.ini"))
        try:
            window.show()
            from engine.backends import mslite_env

            if not mslite_env.WORKER.is_file():  # MindSpore Lite runs it in its own venv's Python, by path
                log.error("the MindSpore Lite worker script is missing: %s", mslite_env.WORKER)
                return 1
            sample = sample_model()
            if not sample.is_file():
                log.error("the bundled sample is missing: %s", sample)
                return 1
            window.open_files([sample])
            if not wait_for_jobs(window, timeout_s) or window.current_document() is None:
                log.error("could not open the sample %s", sample)
                return 1
            doc = window.current_document()
            log.info("opened %s: %d nodes", doc.title, doc.summary.node_count if doc.summary else -1)
            from engine.convert import convert

            out = Path(tmp) / "sample.onnx"
            result = convert(sample, out)
            if not out.is_file():
                log.error("conversion wrote nothing")
                return 1
            log.info("converted to %s in %.2f s", result.output.name, result.seconds)
            window.bench.warmup.setValue(2)
            window.bench.iterations.setValue(20)
            finished: list[object] = []
            window.bench.run_finished.connect(finished.append)  # after the run's results have all landed
            window.bench.run()
            deadline = time.monotonic() + timeout_s
            while not finished and time.monotonic() < deadline:
                if not window.runner.running():  # the job ended: its results land within a few turns
                    deadline = min(deadline, time.monotonic() + 2.0)
                app.processEvents()
                time.sleep(0.005)
            if not wait_for_jobs(window, timeout_s) or window.bench.result is None or not finished:
                log.error("the benchmark did not finish: %s", window.bench.status.text())
                return 1
            points = window.bench.plot.point_count()
            if points != 20:
                log.error("the latency plot holds %d points, expected 20", points)
                return 1
            log.info("benchmark: median %.3f ms over %d iterations; self-test passed in %.1f s",
                     window.bench.result.stats.median_ms, points, time.monotonic() - started)
            return 0
        finally:
            window.close()
            window.deleteLater()
            app.processEvents()

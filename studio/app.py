"""Start the studio: the QApplication, the error hook, the main window; and off-screen screenshots."""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger(__name__)


def ensure_app(offscreen: bool = False):  # -> QApplication
    """The running QApplication, created (named DeployStudio / Deploy Studio) if needed."""
    if offscreen or (sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from engine import __version__
    from studio.icons import icon
    from studio.settings import APPLICATION, ORGANISATION

    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
    app.setOrganizationName(ORGANISATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("deploy-studio")
    app.setWindowIcon(icon("deploy-studio"))
    from studio.palette import with_readable_disabled

    app.setPalette(with_readable_disabled(app.palette()))  # dark themes often draw disabled like enabled
    return app


def main(files: Sequence[str] | None = None) -> int:
    """Entry point of the ``deploy_studio.gui`` group: open a window with ``files``, run until closed.

    ``--self-test`` instead runs :func:`studio.selftest.run` (used by the packaged app's smoke test).
    """
    files = list(files or [])
    if "--self-test" in files:
        from studio.selftest import run

        return run()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(name)s: %(message)s")
    app = ensure_app()
    from studio.errors import ErrorReporter
    from studio.main_window import MainWindow

    reporter = ErrorReporter(app)
    reporter.install()
    window = MainWindow()
    reporter.parent_widget = window
    window.show()
    if files:
        window.open_files(files)
    try:
        return int(app.exec())
    finally:
        reporter.uninstall()


def wait_for_jobs(window, timeout_s: float) -> bool:  # window: MainWindow
    """Process events until no job runs (or the timeout); True when all finished."""
    from PySide6.QtCore import QCoreApplication, QEventLoop

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        if not window.runner.running():
            QCoreApplication.processEvents()  # deliver the queued results
            if not window.runner.running():
                return True
        time.sleep(0.01)
    return False


def render_screenshot(files: Sequence[str], output: str | Path, size: tuple[int, int] = (1400, 900),
                      timeout_s: float = 120.0) -> tuple[int, str]:
    """Open ``files`` in a window of ``size`` off screen, wait for them, and save a PNG.

    Returns:
        (exit status, one-line message): 0 when every file opened and the PNG was written.
    """
    app = ensure_app(offscreen=True)
    from studio.main_window import MainWindow
    from studio.settings import Settings

    with tempfile.TemporaryDirectory(prefix="dstudio-shot-") as tmp:
        window = MainWindow(settings=Settings(Path(tmp) / "settings.ini"))  # never touch the user's layout
        failures: list[str] = []
        window.open_failed.connect(lambda path, message: failures.append(message))
        window.resize(*size)
        window.show()
        window.open_files(list(files))
        finished = wait_for_jobs(window, timeout_s)
        app.processEvents()
        view = window.current_view()
        if view is not None:
            view.fit()
        app.processEvents()
        ok = window.grab().save(str(output), "PNG")
        window.close()
        window.deleteLater()
        app.processEvents()
    if not finished:
        return 1, f"timed out after {timeout_s:.0f} s waiting for the files to open"
    if failures:
        return 1, failures[0]
    if not ok:
        return 1, f"could not write {output}"
    return 0, f"wrote {output} ({size[0]}x{size[1]})"

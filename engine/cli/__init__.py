"""The ``dstudio`` command line: headless access to every engine action.

Each command lives in its own module exposing ``register(subparsers)``; the module sets
``func`` on its parser to a callable ``(args) -> int``. Exit status: 0 success, 1 an error
in the work (one line on stderr, no traceback), 2 a usage error. With no command, or with
model files only, the window opens through the ``deploy_studio.gui`` entry point, so the
engine never imports Qt.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from engine import __version__
from engine.errors import EngineError

log = logging.getLogger(__name__)

COMMAND_MODULES = (
    "engine.cli.cmd_inspect",
    "engine.cli.cmd_graph",
    "engine.cli.cmd_convert",
    "engine.cli.cmd_export",
    "engine.cli.cmd_targets",
    "engine.cli.cmd_bench",
    "engine.cli.cmd_validate",
    "engine.cli.cmd_compare",
    "engine.cli.cmd_optimize",
    "engine.cli.cmd_package",
    "engine.cli.cmd_serve",
    "engine.cli.cmd_loadtest",
    "engine.cli.cmd_batch",
    "engine.cli.cmd_gui",
)


class UsageError(Exception):
    """Raised by a command for a usage problem argparse could not see (exit 2)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dstudio",
        description="Deploy Studio: inspect, convert, export, optimize, validate and benchmark "
        "MindSpore (MindIR, checkpoint) and ONNX models. Run with no command to open the window.",
    )
    parser.add_argument("--version", action="version", version=f"dstudio {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (repeatable)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # command not written yet
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dstudio`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    commands = set(parser._subparsers._group_actions[0].choices) if parser._subparsers else set()  # type: ignore[union-attr]
    if not argv or (argv[0] not in commands and all(Path(a).exists() for a in argv)):
        return _open_window(argv)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(levelname)s: %(message)s",
        stream=sys.stderr,
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"dstudio {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _open_window(files: list[str]) -> int:
    """Start the studio window (files to open may follow) through its entry point."""
    from importlib.metadata import entry_points

    for ep in entry_points(group="deploy_studio.gui"):
        try:
            gui_main = ep.load()
        except ImportError as exc:
            print(f"error: cannot start the studio window ({exc}); the commands still work, see dstudio --help",
                  file=sys.stderr)
            return 1
        return int(gui_main(files) or 0)
    print("error: the studio window is not installed (PySide6 missing?); use a command, see dstudio --help",
          file=sys.stderr)
    return 1

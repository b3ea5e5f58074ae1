"""``dstudio gui FILE... [--screenshot OUT.png] [--size WxH]``: open the window, or render it to a PNG.

The engine never imports Qt: the studio is reached through the ``deploy_studio.gui`` entry
point (to open the window) or by importing ``studio.app`` by name at run time (for screenshots).
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys

from engine.errors import EngineError


def _size(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)[xX](\d+)", text.strip())
    if not match or int(match.group(1)) < 200 or int(match.group(2)) < 150:
        raise argparse.ArgumentTypeError(f"size must be WIDTHxHEIGHT of at least 200x150, like 1400x900, not {text!r}")
    return int(match.group(1)), int(match.group(2))


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "gui", help="open the studio window (or render it to a PNG)",
        description="Open FILEs in the studio window. With --screenshot, render the window off screen at a "
        "fixed size once the files have opened, save it as a PNG and exit (0 on success).")
    parser.add_argument("files", nargs="*", metavar="FILE", help="model or parameter files to open")
    parser.add_argument("--screenshot", metavar="OUT.png", help="save a screenshot of the window and exit")
    parser.add_argument("--size", type=_size, default=(1400, 900), metavar="WxH", help="window size (default 1400x900)")
    parser.add_argument("--timeout", type=float, default=120.0, metavar="S",
                        help="seconds to wait for the files to open before giving up (screenshot only)")
    parser.set_defaults(func=run)


def _studio_app():
    try:
        return importlib.import_module("studio.app")
    except ModuleNotFoundError as exc:
        raise EngineError("the studio window is not installed (PySide6 missing?)",
                          hint="pip install 'deploy-studio' with its GUI dependencies") from exc


def run(args: argparse.Namespace) -> int:
    app = _studio_app()
    if not args.screenshot:
        return int(app.main(list(args.files)) or 0)
    status, message = app.render_screenshot(list(args.files), args.screenshot, size=args.size, timeout_s=args.timeout)
    print(("" if status == 0 else "error: ") + message, file=sys.stderr if status else sys.stdout)
    return status

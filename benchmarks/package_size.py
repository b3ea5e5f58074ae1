"""Size of the frozen bundle (total and its 15 biggest parts) and its cold start, launch to window shown.

Run after ``make package`` (or ``python packaging/build.py``)::

    .venv/bin/python benchmarks/package_size.py [--bundle dist/dstudio] [--runs 3] [--top 15]
    .venv/bin/python benchmarks/package_size.py --bundle dist/onefile/dstudio   # after build.py --onefile

Cold start is measured from just before the frozen app is launched with ``--startup-probe``
to the wall-clock time it prints once its main window is shown and the event loop turns
(off screen). The same probe from source (this Python, ``packaging/entry.py``) is the peer.
It prints medians and ratios and never asserts on time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "packaging"))
import pkgmeta  # noqa: E402

MB = 1024 * 1024


def tree_size(path: Path) -> int:
    if path.is_symlink():
        return 0
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def biggest_parts(bundle: Path, top: int) -> list[tuple[int, Path]]:
    """The bundle broken down by repeatedly splitting its biggest folder, so the list names what weighs."""
    parts = [(tree_size(p), p) for p in bundle.iterdir()]
    for _ in range(60):
        parts.sort(key=lambda item: -item[0])
        folder = next((item for item in parts[:top] if item[1].is_dir() and not item[1].is_symlink()), None)
        if folder is None:
            break
        children = [(tree_size(p), p) for p in folder[1].iterdir()]
        if not children:
            break
        parts.remove(folder)
        parts.extend(children)
    parts.sort(key=lambda item: -item[0])
    return parts[:top]


def default_bundle(project: pkgmeta.Project) -> Path:
    if sys.platform == "darwin":
        return ROOT / "dist" / f"{project.app_name}.app"
    return ROOT / "dist" / project.exe_name


def executable(bundle: Path, project: pkgmeta.Project) -> Path:
    name = project.exe_name + (".exe" if sys.platform == "win32" else "")
    for candidate in (bundle / name, bundle / "Contents" / "MacOS" / name, bundle):
        if candidate.is_file():
            return candidate
    raise SystemExit(f"no {name} in {bundle}: build it first (python packaging/build.py)")


def time_probe(cmd: list[str], env: dict[str, str], timeout: float) -> tuple[float, float]:
    """(seconds from launch to window shown, seconds from launch to exit) for one run."""
    launched = time.time()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    exited = time.time()
    for line in proc.stdout.splitlines():
        if line.startswith("window-shown "):
            return float(line.split()[1]) - launched, exited - launched
    raise SystemExit(f"{' '.join(cmd)} printed no window-shown line (status {proc.returncode}):\n{proc.stderr[-2000:]}")


def time_command(cmd: list[str], env: dict[str, str], timeout: float) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, capture_output=True, check=True, timeout=timeout)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    project = pkgmeta.load()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=default_bundle(project), help="onedir bundle or .app")
    parser.add_argument("--runs", type=int, default=3, help="cold-start runs (median printed)")
    parser.add_argument("--top", type=int, default=15, help="biggest parts to list")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--no-source", action="store_true", help="skip the from-source peer")
    args = parser.parse_args(argv)

    bundle = args.bundle.resolve()
    exe = executable(bundle, project)
    total = tree_size(bundle)
    files = sum(1 for p in bundle.rglob("*") if p.is_file()) if bundle.is_dir() else 1
    print(f"{project.app_name} {project.version}, bundle {bundle.relative_to(ROOT) if bundle.is_relative_to(ROOT) else bundle}")
    print(f"bundle size: {total / MB:.1f} MB in {files} files")
    if bundle.is_dir():  # a one-file build (dist/onefile/<exe>) has no parts to list
        print(f"biggest {args.top}:")
        for size, path in biggest_parts(bundle, args.top):
            kind = "/" if path.is_dir() else ""
            print(f"  {size / MB:8.1f} MB  {path.relative_to(bundle)}{kind}")
    installers = ROOT / "dist" / "installers"
    for path in sorted(installers.glob("*")) if installers.is_dir() else []:
        print(f"installer: {path.name} {path.stat().st_size / MB:.1f} MB")

    with tempfile.TemporaryDirectory(prefix="dstudio-bench-") as tmp:
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(Path(tmp) / "config"),
                   XDG_DATA_HOME=str(Path(tmp) / "data"), XDG_CACHE_HOME=str(Path(tmp) / "cache"))
        peers = {"frozen": [str(exe), "--startup-probe"]}
        if not args.no_source:
            peers["source"] = [sys.executable, str(ROOT / "packaging" / "entry.py"), "--startup-probe"]
        medians = {}
        for label, cmd in peers.items():
            runs = [time_probe(cmd, env, args.timeout) for _ in range(args.runs)]
            shown = [r[0] for r in runs]
            medians[label] = statistics.median(shown)
            print(f"cold start ({label}) launch to window shown: median {medians[label]:.2f} s over {args.runs} runs "
                  f"({', '.join(f'{s:.2f}' for s in shown)}); to exit {statistics.median(r[1] for r in runs):.2f} s")
        cli = [time_command([str(exe), "--version"], env, args.timeout) for _ in range(args.runs)]
        print(f"CLI start (frozen `{project.exe_name} --version`): median {statistics.median(cli):.2f} s")
        if "source" in medians and medians["source"] > 0:
            print(f"frozen / source cold start: {medians['frozen'] / medians['source']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

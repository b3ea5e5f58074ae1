"""Build the frozen app with PyInstaller, smoke-test it, and wrap it in this OS's installer (what `make package` runs)."""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import entry  # noqa: E402
import icons  # noqa: E402
import pkgmeta  # noqa: E402

log = logging.getLogger("build")

ROOT = pkgmeta.ROOT
HERE = pkgmeta.PACKAGING
SPEC = HERE / "deploy_studio.spec"
BUILD = ROOT / "build"
DIST = ROOT / "dist"
INSTALLERS = DIST / "installers"
ONEFILE_DIST = DIST / "onefile"  # apart from dist/<exe>/, the onedir bundle of the same name
SELF_TEST_TIMEOUT_S = 600
RESOURCES = ROOT / "resources"  # the source assets; the wheel and the bundle ship them as studio.resources
APP_SVG = RESOURCES / "icons" / "deploy-studio.svg"
#: System libraries the bundle links against but PyInstaller leaves to the OS (Qt's xcb, Wayland and GL stack).
DEB_DEPENDS = (
    "libc6", "libstdc++6", "libgl1", "libegl1", "libfontconfig1", "libfreetype6", "libdbus-1-3",
    "libxkbcommon0", "libxkbcommon-x11-0", "libwayland-client0", "libwayland-cursor0", "libwayland-egl1",
    "libx11-xcb1", "libxcb-cursor0", "libxcb-icccm4", "libxcb-image0", "libxcb-keysyms1", "libxcb-randr0",
    "libxcb-render-util0", "libxcb-shape0", "libxcb-xinerama0", "libxcb-xkb1",
)
DEB_RECOMMENDS = ("shared-mime-info", "desktop-file-utils", "hicolor-icon-theme")


class BuildError(Exception):
    """A step failed; the message says which and why."""


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    log.info("$ %s", " ".join(str(c) for c in cmd))
    try:
        return subprocess.run([str(c) for c in cmd], check=True, **kwargs)
    except subprocess.CalledProcessError as exc:
        raise BuildError(f"{Path(str(cmd[0])).name} failed with status {exc.returncode}") from exc


# Bundle ------------------------------------------------------------------------------------------
def render_icons(project: pkgmeta.Project) -> tuple[dict[int, Path], Path | None]:
    """PNGs of the app icon, and the .ico / .icns PyInstaller embeds on Windows / macOS."""
    pngs = icons.render_pngs(APP_SVG, BUILD / "icons")
    if sys.platform == "win32":
        return pngs, icons.write_ico(pngs, BUILD / "icons" / f"{project.app_id}.ico")
    if sys.platform == "darwin":
        return pngs, icons.write_icns(pngs, BUILD / "icons" / f"{project.app_id}.icns")
    return pngs, None


def pyinstaller(project: pkgmeta.Project, onefile: bool, icon: Path | None) -> Path:
    """Run the spec; returns the frozen executable to smoke-test."""
    env = dict(os.environ, DSTUDIO_ONEFILE="1" if onefile else "0", DSTUDIO_ICON=str(icon or ""))
    run([sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN",
         "--distpath", ONEFILE_DIST if onefile else DIST, "--workpath", BUILD / "pyinstaller", SPEC], env=env, cwd=ROOT)
    return frozen_executable(project, onefile)


def bundle_dir(project: pkgmeta.Project) -> Path:
    """The onedir bundle (on macOS, the folder inside the .app that holds the executable)."""
    if sys.platform == "darwin":
        return DIST / f"{project.app_name}.app" / "Contents" / "MacOS"
    return DIST / project.exe_name


def frozen_executable(project: pkgmeta.Project, onefile: bool) -> Path:
    exe = project.exe_name + (".exe" if sys.platform == "win32" else "")
    path = ONEFILE_DIST / exe if onefile else bundle_dir(project) / exe
    if not path.is_file():
        raise BuildError(f"PyInstaller did not produce {path}")
    return path


# Smoke test --------------------------------------------------------------------------------------
def smoke_test(exe: Path, project: pkgmeta.Project) -> None:
    """``<app> --version`` must name the package's version; ``<app> --self-test`` must pass off screen."""
    with tempfile.TemporaryDirectory(prefix="dstudio-smoke-") as tmp:
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(Path(tmp) / "config"),
                   XDG_DATA_HOME=str(Path(tmp) / "data"), XDG_CACHE_HOME=str(Path(tmp) / "cache"))
        for key in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):  # the bundle must not lean on the build's Python
            env.pop(key, None)
        # Optional extras present here (onnxscript, sympy) must have made it into the bundle.
        env[entry.EXPECT_ENV] = ",".join(name for name, probe in entry.OPTIONAL_IMPORTS.items()
                                         if importlib.util.find_spec(probe) is not None)
        out = run([exe, "--version"], env=env, cwd=tmp, capture_output=True, text=True, timeout=120).stdout
        if project.version not in out:
            raise BuildError(f"{exe.name} --version printed {out.strip()!r}, expected {project.version}")
        start = time.perf_counter()
        try:
            run([exe, "--self-test"], env=env, cwd=tmp, timeout=SELF_TEST_TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            raise BuildError(f"--self-test did not finish in {SELF_TEST_TIMEOUT_S} s") from exc
        log.info("smoke test passed (%s --self-test, %.1f s)", exe.name, time.perf_counter() - start)


# Linux -------------------------------------------------------------------------------------------
def _copy(src: Path, dst: Path, mode: int = 0o644) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    dst.chmod(mode)


def _desktop_integration(root: Path, project: pkgmeta.Project, pngs: dict[int, Path]) -> None:
    """The .desktop file, MIME types and icons under ``root/usr/share`` (dpkg triggers refresh the caches)."""
    share = root / "usr" / "share"
    _copy(RESOURCES / f"{project.app_id}.desktop", share / "applications" / f"{project.app_id}.desktop")
    _copy(RESOURCES / f"{project.app_id}-mime.xml", share / "mime" / "packages" / f"{project.app_id}.xml")
    _copy(APP_SVG, share / "icons" / "hicolor" / "scalable" / "apps" / f"{project.app_id}.svg")
    for size, png in pngs.items():
        _copy(png, share / "icons" / "hicolor" / f"{size}x{size}" / "apps" / f"{project.app_id}.png")


def _deb_arch() -> str:
    if shutil.which("dpkg"):
        return subprocess.run(["dpkg", "--print-architecture"], check=True, capture_output=True, text=True).stdout.strip()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)


def build_deb(project: pkgmeta.Project, pngs: dict[int, Path]) -> Path:
    """``deploy-studio_<version>_<arch>.deb``: the bundle in /opt, /usr/bin/<exe>, desktop integration."""
    if not shutil.which("dpkg-deb"):
        raise BuildError("dpkg-deb not found (apt-get install dpkg)")
    root = BUILD / "deb" / "root"
    shutil.rmtree(root.parent, ignore_errors=True)
    opt = root / "opt" / project.app_id
    shutil.copytree(bundle_dir(project), opt, symlinks=True)
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "usr" / "bin" / project.exe_name).symlink_to(f"../../opt/{project.app_id}/{project.exe_name}")
    _desktop_integration(root, project, pngs)
    doc = root / "usr" / "share" / "doc" / project.dist_name
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(
        f"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
        f"Upstream-Name: {project.dist_name}\n\nFiles: *\nLicense: {project.license or 'see upstream'}\n",
        encoding="utf-8")
    for path in root.rglob("*"):  # dpkg-deb rejects group/other-writable control and odd modes
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() or os.access(path, os.X_OK) else 0o644)
    size_kb = sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink()) // 1024
    arch = _deb_arch()
    fields = {
        "Package": project.dist_name,
        "Version": project.version,
        "Architecture": arch,
        "Maintainer": project.maintainer,
        "Installed-Size": str(size_kb),
        "Depends": ", ".join(DEB_DEPENDS),
        "Recommends": ", ".join(DEB_RECOMMENDS),
        "Suggests": "python3-pip",
        "Section": "science",
        "Priority": "optional",
        "Homepage": project.homepage,
        "Description": f"{project.summary}\n {project.app_name} opens MindSpore MindIR and checkpoint files and ONNX"
        f"\n models; `{project.exe_name}` does the same work on the command line. MindSpore itself is"
        "\n not bundled: install it separately to run MindIR natively.",
    }
    control = root / "DEBIAN" / "control"
    control.parent.mkdir(mode=0o755)
    control.write_text("".join(f"{k}: {v}\n" for k, v in fields.items() if v), encoding="utf-8")
    INSTALLERS.mkdir(parents=True, exist_ok=True)
    out = INSTALLERS / f"{project.dist_name}_{project.version}_{arch}.deb"
    run(["dpkg-deb", "--root-owner-group", "-Zxz", "--build", root, out])
    return out


def check_deb(deb: Path, project: pkgmeta.Project) -> None:
    """Unpack the .deb and run ``--version`` from the unpacked /usr/bin link: the payload itself works."""
    with tempfile.TemporaryDirectory(prefix="dstudio-deb-") as tmp:
        run(["dpkg-deb", "-x", deb, tmp])
        exe = Path(tmp) / "usr" / "bin" / project.exe_name
        out = run([exe, "--version"], capture_output=True, text=True, timeout=120).stdout
        if project.version not in out:
            raise BuildError(f"the .deb's {project.exe_name} printed {out.strip()!r}")
        for rel in (f"usr/share/applications/{project.app_id}.desktop", f"usr/share/mime/packages/{project.app_id}.xml",
                    f"usr/share/icons/hicolor/scalable/apps/{project.app_id}.svg"):
            if not (Path(tmp) / rel).is_file():
                raise BuildError(f"the .deb lacks /{rel}")


def build_appimage(project: pkgmeta.Project, pngs: dict[int, Path]) -> Path | None:
    """An AppImage, when ``appimagetool`` is on PATH (it is not packaged by Debian, so usually skipped)."""
    tool = shutil.which("appimagetool")
    if not tool:
        log.info("appimagetool not found: no AppImage (the .deb is the Linux installer)")
        return None
    appdir = BUILD / "appimage" / f"{project.app_name.replace(' ', '')}.AppDir"
    shutil.rmtree(appdir.parent, ignore_errors=True)
    shutil.copytree(bundle_dir(project), appdir / "opt" / project.app_id, symlinks=True)
    _desktop_integration(appdir, project, pngs)
    shutil.copyfile(RESOURCES / f"{project.app_id}.desktop", appdir / f"{project.app_id}.desktop")
    shutil.copyfile(pngs[256], appdir / f"{project.app_id}.png")
    apprun = appdir / "AppRun"
    apprun.write_text(f'#!/bin/sh\nexec "$(dirname "$(readlink -f "$0")")/opt/{project.app_id}/{project.exe_name}" "$@"\n')
    apprun.chmod(0o755)
    out = INSTALLERS / f"{project.dist_name}-{project.version}-{pkgmeta.platform_tag()}.AppImage"
    run([tool, appdir, out], env=dict(os.environ, ARCH=os.uname().machine))
    return out


# Windows -----------------------------------------------------------------------------------------
def _iscc() -> str:
    found = shutil.which("iscc") or shutil.which("ISCC")
    for base in (os.environ.get("ProgramFiles(x86)", ""), os.environ.get("ProgramFiles", "")):
        candidate = Path(base) / "Inno Setup 6" / "ISCC.exe"
        if not found and base and candidate.is_file():
            found = str(candidate)
    if not found:
        raise BuildError("Inno Setup's ISCC.exe not found (choco install innosetup)")
    return found


def build_windows_installer(project: pkgmeta.Project, icon: Path | None) -> Path:
    INSTALLERS.mkdir(parents=True, exist_ok=True)
    base = f"{project.dist_name}-{project.version}-{pkgmeta.platform_tag()}-setup"
    defines = {
        "AppName": project.app_name, "AppVersion": project.version, "AppId": project.bundle_id,
        "AppPublisher": project.organisation, "AppURL": project.homepage, "ExeName": f"{project.exe_name}w.exe",
        "CliName": f"{project.exe_name}.exe", "SourceDir": str(bundle_dir(project)), "OutputDir": str(INSTALLERS),
        "OutputBaseFilename": base, "IconFile": str(icon or ""), "ProgId": project.dist_name.replace("-", ""),
    }
    run([_iscc(), *(f"/D{k}={v}" for k, v in defines.items() if v), HERE / "windows" / "deploy_studio.iss"])
    return INSTALLERS / f"{base}.exe"


# macOS -------------------------------------------------------------------------------------------
def build_dmg(project: pkgmeta.Project) -> Path:
    app = DIST / f"{project.app_name}.app"
    stage = BUILD / "dmg"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    shutil.copytree(app, stage / app.name, symlinks=True)
    (stage / "Applications").symlink_to("/Applications")
    INSTALLERS.mkdir(parents=True, exist_ok=True)
    out = INSTALLERS / f"{project.dist_name}-{project.version}-{pkgmeta.platform_tag()}.dmg"
    run(["hdiutil", "create", "-volname", f"{project.app_name} {project.version}", "-srcfolder", stage,
         "-ov", "-format", "UDZO", out])
    return out


def build_installers(project: pkgmeta.Project, pngs: dict[int, Path], icon: Path | None) -> list[Path]:
    if sys.platform == "win32":
        return [build_windows_installer(project, icon)]
    if sys.platform == "darwin":
        return [build_dmg(project)]
    deb = build_deb(project, pngs)
    check_deb(deb, project)
    appimage = build_appimage(project, pngs)
    return [deb] + ([appimage] if appimage else [])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--onefile", action="store_true", default=os.environ.get("DSTUDIO_ONEFILE") == "1",
                        help="one self-extracting executable instead of a folder (no installer; env DSTUDIO_ONEFILE=1)")
    parser.add_argument("--no-installer", action="store_true", help="stop after the bundle and its smoke test")
    parser.add_argument("--no-smoke-test", action="store_true", help="skip `<app> --self-test` (not for releases)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="build: %(message)s")
    project = pkgmeta.load()
    log.info("%s %s (%s) for %s", project.app_name, project.version, "onefile" if args.onefile else "onedir",
             pkgmeta.platform_tag())
    start = time.perf_counter()
    try:
        pngs, icon = render_icons(project)
        exe = pyinstaller(project, args.onefile, icon)
        log.info("bundle: %s (%.0f s)", exe, time.perf_counter() - start)
        if not args.no_smoke_test:
            smoke_test(exe, project)
        artefacts = [] if args.no_installer or args.onefile else build_installers(project, pngs, icon)
    except BuildError as exc:
        print(f"build: error: {exc}", file=sys.stderr)
        return 1
    for path in artefacts:
        log.info("installer: %s (%.1f MB)", path, path.stat().st_size / 1e6)
    log.info("done in %.0f s", time.perf_counter() - start)
    return 0


if __name__ == "__main__":
    sys.exit(main())

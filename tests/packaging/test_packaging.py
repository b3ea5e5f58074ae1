"""Fast checks of the packaging: spec, build script, frozen entry, workflow, desktop and installer files (no PyInstaller run)."""

from __future__ import annotations

import ast
import configparser
import importlib.util
import os
import plistlib
import re
import shutil
import struct
import subprocess
import sys
import types
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"
RESOURCES = ROOT / "resources"  # top-level source assets, shipped as the package studio.resources
WORKFLOW = ROOT / ".github" / "workflows" / "release.yml"
EXTENSIONS = ("mindir", "onnx", "ckpt")
MIME_TYPES = {"application/x-mindspore-mindir", "application/x-mindspore-checkpoint", "application/x-onnx"}


def _load(path: Path, name: str) -> types.ModuleType:
    """Import a packaging script by path, leaving sys.path as it was (packaging/ is not a package)."""
    saved = list(sys.path)
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path[:] = saved


@pytest.fixture(scope="module")
def pkgmeta() -> types.ModuleType:
    return _load(PACKAGING / "pkgmeta.py", "dstudio_pkgmeta")


@pytest.fixture(scope="module")
def project(pkgmeta):
    return pkgmeta.load()


# One source of truth -------------------------------------------------------------------------
def test_project_metadata_comes_from_the_package(project):
    import engine

    assert project.version == engine.__version__
    assert project.dist_name == "deploy-studio"
    assert project.exe_name == "dstudio"
    assert project.app_name and project.organisation
    assert (RESOURCES / "icons" / f"{project.app_id}.svg").is_file()


def test_no_packaging_file_hard_codes_the_version(project):
    files = [p for p in PACKAGING.rglob("*") if p.is_file() and "__pycache__" not in p.parts] + [WORKFLOW]
    pattern = re.compile(rf"(?<![\d.]){re.escape(project.version)}(?![\d.])")
    assert not [str(p) for p in files if pattern.search(p.read_text(encoding="utf-8", errors="ignore"))]


# The spec ------------------------------------------------------------------------------------
class _Recorder:
    """Stands in for PyInstaller's build targets and records how the spec calls them."""

    def __init__(self, log: list, kind: str) -> None:
        self.log, self.kind = log, kind

    def __call__(self, *args, **kwargs):
        self.log.append((self.kind, args, kwargs))
        obj = types.SimpleNamespace(kind=self.kind, args=args, kwargs=kwargs, pure=[], scripts=[], binaries=[],
                                    datas=[("mindspore-2.10.0.dist-info/METADATA", "x", "DATA"),
                                           ("PySide6/Qt/translations/qt_de.qm", "x", "DATA"),
                                           ("studio/resources/samples/lenet5.mindir", "x", "DATA")])
        return obj


def _exec_spec(monkeypatch, onefile: bool) -> tuple[list, dict]:
    hooks = types.ModuleType("PyInstaller.utils.hooks")
    hooks.collect_submodules = lambda package, **kw: [package, f"{package}.stub"]
    hooks.collect_data_files = lambda package, **kw: [(f"{package}/resources/x", package)]
    hooks.copy_metadata = lambda dist, **kw: [(f"/site/{dist}.dist-info", f"{dist}.dist-info")]
    for name in ("PyInstaller", "PyInstaller.utils"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "PyInstaller.utils.hooks", hooks)
    monkeypatch.setenv("DSTUDIO_ONEFILE", "1" if onefile else "0")
    monkeypatch.setattr(sys, "path", list(sys.path))
    log: list = []
    spec = PACKAGING / "deploy_studio.spec"
    namespace = {"__file__": str(spec), "__name__": "__main__", "SPECPATH": str(PACKAGING)}
    for kind in ("Analysis", "PYZ", "EXE", "COLLECT", "BUNDLE"):
        namespace[kind] = _Recorder(log, kind)
    exec(compile(spec.read_text(encoding="utf-8"), str(spec), "exec"), namespace)
    return log, namespace


def test_spec_parses():
    ast.parse((PACKAGING / "deploy_studio.spec").read_text(encoding="utf-8"))


@pytest.mark.parametrize("onefile", [False, True], ids=["onedir", "onefile"])
def test_spec_builds_the_named_app_and_excludes_what_is_not_used(monkeypatch, project, onefile):
    log, namespace = _exec_spec(monkeypatch, onefile)
    kinds = [kind for kind, _, _ in log]
    analysis = next(kwargs for kind, _, kwargs in log if kind == "Analysis")
    for module in ("mindspore", "torch", "tkinter", "matplotlib", "IPython", "pytest", "PySide6.QtWebEngineCore",
                   "PySide6.Qt3DCore", "PySide6.QtQml", "PySide6.QtQuick"):
        assert module in analysis["excludes"]
    for needed in ("PySide6.QtSvg", "PySide6.QtOpenGL", "onnxruntime", "numpy", "onnx"):
        assert needed not in analysis["excludes"]
    assert "engine" in analysis["hiddenimports"] and "studio" in analysis["hiddenimports"]
    assert any("deploy-studio.dist-info" in dest for _, dest in analysis["datas"])
    datas = [d[0] for d in namespace["a"].datas]
    assert datas == ["studio/resources/samples/lenet5.mindir"]  # MindSpore's metadata and Qt translations dropped
    # the top-level resources/ is bundled where the package studio.resources resolves, __init__ included
    bundled = {(Path(src).relative_to(RESOURCES).as_posix(), Path(dest).as_posix())
               for src, dest in analysis["datas"] if Path(src).is_relative_to(RESOURCES)}
    assert ("__init__.py", "studio/resources") in bundled
    assert ("samples/lenet5.mindir", "studio/resources/samples") in bundled
    assert (f"icons/{project.app_id}.svg", "studio/resources/icons") in bundled
    exes = [kwargs for kind, _, kwargs in log if kind == "EXE"]
    assert exes[0]["name"] == project.exe_name
    if onefile:
        assert "COLLECT" not in kinds
    else:
        assert kinds.count("COLLECT") == 1
        assert next(kwargs for kind, _, kwargs in log if kind == "COLLECT")["name"] == project.exe_name


# The build script and the frozen entry -------------------------------------------------------
def test_build_script_imports_and_has_a_help(capsys):
    build = _load(PACKAGING / "build.py", "dstudio_packaging_build")
    for step in ("pyinstaller", "smoke_test", "build_deb", "build_windows_installer", "build_dmg"):
        assert callable(getattr(build, step))
    with pytest.raises(SystemExit) as exc:
        build.main(["--help"])
    assert exc.value.code == 0
    assert "--onefile" in capsys.readouterr().out


def test_resources_are_at_the_top_level_and_found_by_package_name():
    """DESIGN.md's layout: resources/ beside engine/ and studio/, found as studio.resources (editable install)."""
    from importlib import resources

    assert not (ROOT / "studio" / "resources").exists()
    for rel in ("__init__.py", "icons/deploy-studio.svg", "samples/lenet5.mindir", "deploy-studio.desktop",
                "deploy-studio-mime.xml"):
        assert (RESOURCES / rel).is_file(), rel
    assets = resources.files("studio.resources")
    assert Path(str(assets)).resolve() == RESOURCES.resolve()
    from studio.assets import resource

    assert Path(str(resource("icons", "minimap.svg"))).resolve() == (RESOURCES / "icons" / "minimap.svg").resolve()


@pytest.mark.slow
def test_wheel_ships_the_resources_as_studio_resources(tmp_path):
    """Build the wheel from a copy of the sources; the installed wheel finds every asset by package name."""
    import zipfile

    src = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("engine", "studio", "resources"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(dist)], cwd=src, check=True, capture_output=True, timeout=300)
    wheel = next(dist.glob("deploy_studio-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"studio/resources/{p.relative_to(RESOURCES).as_posix()}" for p in RESOURCES.rglob("*")
                if p.is_file() and "__pycache__" not in p.parts}
    assert expected <= names, sorted(expected - names)
    assert not any(n.startswith(("resources/", "tests/")) for n in names)
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    probe = ("import sys; sys.path.insert(0, sys.argv[1]); from importlib.resources import files; "
             "r = files('studio.resources'); import studio.assets as a; "
             "print(r.joinpath('samples', 'lenet5.mindir').is_file(), r.joinpath('icons', 'fit.svg').is_file(), "
             "str(a.resource_root()).startswith(sys.argv[1]))")
    result = subprocess.run([sys.executable, "-S", "-c", probe, str(site)], capture_output=True, text=True,
                            cwd=tmp_path, timeout=60)
    assert result.stdout.split() == ["True", "True", "True"], result.stderr


def test_entry_finds_a_complete_install():
    entry = _load(PACKAGING / "entry.py", "dstudio_packaging_entry")
    assert entry.DIST_NAME == "deploy-studio"
    assert entry.packaging_problems() == []


def test_icons_pack_pngs_into_ico_and_icns(tmp_path):
    icons = _load(PACKAGING / "icons.py", "dstudio_packaging_icons")
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 24
    pngs = {}
    for size in (16, 32, 256, 512):
        pngs[size] = tmp_path / f"{size}.png"
        pngs[size].write_bytes(png)
    ico = icons.write_ico(pngs, tmp_path / "a.ico").read_bytes()
    assert struct.unpack("<HHH", ico[:6]) == (0, 1, 3)  # 512 px does not fit an .ico entry
    icns = icons.write_icns(pngs, tmp_path / "a.icns").read_bytes()
    assert icns[:4] == b"icns" and struct.unpack(">I", icns[4:8])[0] == len(icns)


def test_package_size_benchmark_lists_the_biggest_parts(tmp_path):
    bench = _load(ROOT / "benchmarks" / "package_size.py", "dstudio_bench_package_size")
    (tmp_path / "lib" / "qt").mkdir(parents=True)
    (tmp_path / "lib" / "qt" / "big.so").write_bytes(b"x" * 5000)
    (tmp_path / "lib" / "small.so").write_bytes(b"x" * 10)
    (tmp_path / "app").write_bytes(b"x" * 100)
    parts = bench.biggest_parts(tmp_path, 2)
    assert [p.name for _, p in parts] == ["big.so", "app"]


# The release workflow ------------------------------------------------------------------------
def test_workflow_has_three_os_jobs_that_build_and_smoke_test():
    yaml = pytest.importorskip("yaml")
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert workflow.get("on", workflow.get(True))  # PyYAML reads the bare key `on` as True
    job = workflow["jobs"]["package"]
    systems = job["strategy"]["matrix"]["os"]
    for prefix in ("ubuntu", "windows", "macos"):
        assert any(str(os_name).startswith(prefix) for os_name in systems)
    steps = job["steps"]
    runs = "\n".join(step.get("run", "") for step in steps)
    uses = [step.get("uses", "") for step in steps]
    assert any(u.startswith("actions/setup-python") and s["with"]["python-version"] == "3.11"
               for u, s in zip(uses, steps))
    assert re.search(r'pip install -e "\.\[package[],]', runs)
    assert "python packaging/build.py" in runs
    assert "--self-test" in runs or "--self-test" in (PACKAGING / "build.py").read_text(encoding="utf-8")
    assert any(u.startswith("actions/upload-artifact") for u in uses)


# Desktop integration ---------------------------------------------------------------------------
def test_desktop_file(project):
    path = RESOURCES / f"{project.app_id}.desktop"
    if shutil.which("desktop-file-validate"):
        result = subprocess.run(["desktop-file-validate", str(path)], capture_output=True, text=True)
        assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read(path, encoding="utf-8")
    entry = parser["Desktop Entry"]
    assert entry["Type"] == "Application"
    assert entry["Name"] == project.app_name
    assert entry["Exec"].split()[0] == project.exe_name and "%F" in entry["Exec"]
    assert entry["Icon"] == project.app_id
    assert set(filter(None, entry["MimeType"].split(";"))) == MIME_TYPES


def test_mime_types_glob_the_three_model_suffixes(project):
    ns = {"m": "http://www.freedesktop.org/standards/shared-mime-info"}
    root = ET.parse(RESOURCES / f"{project.app_id}-mime.xml").getroot()
    globs = {t.get("type"): [g.get("pattern") for g in t.findall("m:glob", ns)] for t in root.findall("m:mime-type", ns)}
    assert set(globs) == MIME_TYPES
    assert sorted(p for patterns in globs.values() for p in patterns) == sorted(f"*.{e}" for e in EXTENSIONS)


def test_inno_setup_script_associates_the_three_suffixes_and_adds_a_start_menu_entry():
    text = (PACKAGING / "windows" / "deploy_studio.iss").read_text(encoding="utf-8")
    registry = text.split("[Registry]", 1)[1].split("\n[", 1)[0]
    for ext in EXTENSIONS:
        assert f"Software\\Classes\\.{ext}\\OpenWithProgids" in registry
        assert f"{{#ProgId}}.{ext}\\shell\\open\\command" in registry
    assert "ChangesAssociations=yes" in text
    assert re.search(r"^\[Icons\]\s*\nName: \"\{group\}\\\{#AppName\}\"", text, re.M)
    assert re.search(r"^AppVersion=\{#AppVersion\}$", text, re.M)  # the version comes from build.py


def test_macos_info_plist_declares_the_document_types():
    with open(PACKAGING / "macos" / "Info.plist", "rb") as fh:
        info = plistlib.load(fh)
    extensions = {ext for doc in info["CFBundleDocumentTypes"] for ext in doc["CFBundleTypeExtensions"]}
    assert extensions == set(EXTENSIONS)
    assert "CFBundleShortVersionString" not in info  # added by the spec from the package


def test_packaging_folder_is_not_a_python_package():
    # packaging/__init__.py would shadow the `packaging` library that pip, pytest and PyInstaller import.
    assert not (PACKAGING / "__init__.py").exists()
    assert not (Path(__file__).parent / "__init__.py").exists()
    assert os.sep  # keeps `os` used on every platform

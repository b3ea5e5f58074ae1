"""The packaging's one source of truth: names, version and texts read from pyproject.toml and the packages."""

from __future__ import annotations

import ast
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGING = ROOT / "packaging"

#: The console script whose target the frozen app runs (``[project.scripts]``).
CLI_TARGET = "engine.cli:main"


@dataclass(frozen=True)
class Project:
    """What installers and the bundle say about the app.

    Attributes:
        dist_name: the distribution name (``deploy-studio``); also the desktop-file id,
            the icon name and the Debian package name.
        version: ``engine.__version__``.
        summary: the one-line description from pyproject.toml.
        exe_name: the console script name (``dstudio``): the frozen executable's name.
        app_name: the human name the studio gives its QApplication (``Deploy Studio``).
        organisation: the studio's settings organisation (also the macOS bundle id prefix).
        license: the licence expression from pyproject.toml.
        homepage: the project URL when pyproject.toml names one, else "".
        maintainer: ``Name <email>`` for the .deb (authors/maintainers in pyproject.toml).
    """

    dist_name: str
    version: str
    summary: str
    exe_name: str
    app_name: str
    organisation: str
    license: str
    homepage: str
    maintainer: str

    @property
    def app_id(self) -> str:
        return self.dist_name

    @property
    def bundle_id(self) -> str:
        return f"org.{self.organisation.lower()}.{self.dist_name.replace('-', '')}"


def _pyproject() -> dict:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - the release workflow builds with 3.11
        import tomli as tomllib  # type: ignore[no-redef]
    return tomllib.loads(text)


def _constant(path: Path, name: str) -> str:
    """A module-level string constant read without importing the module (no Qt needed)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        for target in targets:
            if isinstance(target, ast.Name) and target.id == name and isinstance(node.value, ast.Constant):
                return str(node.value.value)
    raise LookupError(f"{path}: no string constant {name}")


def _person(people: list[dict]) -> str:
    for person in people:
        if person.get("email"):
            return f"{person.get('name', person['email'])} <{person['email']}>"
    return ""


def load() -> Project:
    """Read the project's metadata; raises LookupError when pyproject.toml lacks the console script."""
    project = _pyproject()["project"]
    scripts = {target: name for name, target in project.get("scripts", {}).items()}
    if CLI_TARGET not in scripts:
        raise LookupError(f"pyproject.toml has no console script for {CLI_TARGET}")
    init = ROOT / "engine" / "__init__.py"
    settings = ROOT / "studio" / "settings.py"
    app_name = _constant(settings, "APPLICATION")
    licence = project.get("license", "")
    urls = project.get("urls", {})
    maintainer = _person(project.get("maintainers", []) + project.get("authors", []))
    return Project(
        dist_name=project["name"],
        version=_constant(init, "__version__"),
        summary=project.get("description", app_name),
        exe_name=scripts[CLI_TARGET],
        app_name=app_name,
        organisation=_constant(settings, "ORGANISATION"),
        license=licence.get("text", "") if isinstance(licence, dict) else str(licence),
        homepage=urls.get("Homepage", "") or next(iter(urls.values()), ""),
        maintainer=maintainer or f"{app_name} maintainers <{project['name']}@users.noreply.github.com>",
    )


def platform_tag() -> str:
    """``linux-x86_64``, ``windows-amd64``, ``macos-arm64``: the suffix of installer file names."""
    system = {"darwin": "macos", "win32": "windows"}.get(sys.platform, sys.platform.rstrip("0123456789"))
    return f"{system}-{platform.machine().lower() or 'unknown'}"

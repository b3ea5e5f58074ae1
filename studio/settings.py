"""Persistent studio settings (window layout, recent files, last target) over QSettings."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings

log = logging.getLogger(__name__)

ORGANISATION = "DeployStudio"
APPLICATION = "Deploy Studio"
MAX_RECENT = 10


class Settings:
    """Typed access to the studio's QSettings.

    Args:
        path: an INI file to use instead of the platform's settings store (tests pass a
            file under tmp_path so they never touch the user's settings).
    """

    def __init__(self, path: str | Path | None = None) -> None:
        if path is None:
            self._qs = QSettings(ORGANISATION, APPLICATION)
        else:
            self._qs = QSettings(str(path), QSettings.Format.IniFormat)

    @property
    def qsettings(self) -> QSettings:
        return self._qs

    def sync(self) -> None:
        self._qs.sync()

    # Recent files -----------------------------------------------------------------
    def recent_files(self) -> list[str]:
        value = self._qs.value("recent/files", [])
        if isinstance(value, str):  # QSettings returns a bare string for one-element lists
            value = [value]
        return [str(v) for v in (value or [])][:MAX_RECENT]

    def add_recent_file(self, path: str | Path) -> list[str]:
        """Move ``path`` to the front of the recent list and return the list."""
        path = str(Path(path).resolve())
        files = [path] + [f for f in self.recent_files() if f != path]
        self._qs.setValue("recent/files", files[:MAX_RECENT])
        return files[:MAX_RECENT]

    def clear_recent_files(self) -> None:
        self._qs.remove("recent/files")

    # Target -----------------------------------------------------------------------
    def last_target(self) -> str:
        return str(self._qs.value("target/name", "") or "")

    def set_last_target(self, name: str) -> None:
        self._qs.setValue("target/name", name)

    def threads(self) -> int:
        return self._int("target/threads", 0)

    def set_threads(self, threads: int) -> None:
        self._qs.setValue("target/threads", int(threads))

    # Window -----------------------------------------------------------------------
    def geometry(self) -> QByteArray | None:
        value = self._qs.value("window/geometry")
        return value if isinstance(value, QByteArray) else None

    def window_state(self) -> QByteArray | None:
        value = self._qs.value("window/state")
        return value if isinstance(value, QByteArray) else None

    def save_window(self, geometry: QByteArray, state: QByteArray) -> None:
        self._qs.setValue("window/geometry", geometry)
        self._qs.setValue("window/state", state)

    # Free-form panel values (bench options, last folders) -------------------------
    def value(self, key: str, default: Any = None) -> Any:
        return self._qs.value(key, default)

    def set_value(self, key: str, value: Any) -> None:
        self._qs.setValue(key, value)

    def last_folder(self) -> str:
        return str(self._qs.value("paths/last_folder", "") or "")

    def set_last_folder(self, folder: str | Path) -> None:
        self._qs.setValue("paths/last_folder", str(folder))

    def _int(self, key: str, default: int) -> int:
        try:
            return int(self._qs.value(key, default))
        except (TypeError, ValueError):
            return default

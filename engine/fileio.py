"""Safe file writing: never over an input, always through a temporary file and a rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from engine.errors import OutputPathError


def check_output_path(output: str | Path, inputs: Iterable[str | Path | None]) -> Path:
    """Refuse an output path that is one of the inputs; return it resolved."""
    out = Path(output)
    for src in inputs:
        if src is None:
            continue
        src_path = Path(src)
        same = src_path.exists() and out.exists() and os.path.samefile(src_path, out)
        if same or src_path.resolve() == out.resolve():
            raise OutputPathError("output path is the same as an input; choose another name", path=out)
    if out.is_dir():
        raise OutputPathError("output path is a folder; give a file name", path=out)
    if not out.parent.exists():
        raise OutputPathError(f"folder {out.parent} does not exist", path=out)
    return out


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` on success.

    On any exception the temporary file is removed and ``target`` is left untouched.
    """
    target = Path(target)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def atomic_write_bytes(target: str | Path, data: bytes) -> None:
    """Write ``data`` to ``target`` through a temporary file and a rename."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)

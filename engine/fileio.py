"""Safe file writing: never over an input, always through a temporary file and a rename.

Temporaries are hidden files named ``.<target>.<pid>.<random>.part`` beside the target. A
process killed mid-write (SIGKILL, power loss) leaves one behind; the next write into that
folder removes those whose process is gone. The renamed output gets the permissions a plain
``open()`` would give it (0666 less the user's umask), not the temporary's private 0600.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from engine.errors import OutputPathError

log = logging.getLogger(__name__)

_PART = re.compile(r"^\..+\.(\d+)\.[^.]+\.part$")


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


def free_path(path: str | Path, *, avoid: Iterable[str | Path] = ()) -> Path:
    """``path`` when no file is there (and it is not in ``avoid``), else the first free ``stem-N.suffix``.

    A default output name must never land on an existing file, such as the ``model.onnx``
    MindSpore exported beside the ``model.mindir`` being converted.
    """
    path = Path(path)
    taken = {Path(a).resolve() for a in avoid}

    def free(p: Path) -> bool:
        return not p.exists() and p.resolve() not in taken

    if free(path):
        return path
    for n in range(1, 10_000):
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
        if free(candidate):
            return candidate
    raise OutputPathError("no free file name beside it (tried -1 to -9999)", path=path)


def current_umask() -> int:
    """The process's umask, read without changing it where Linux allows (os.umask is racy)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return True
    return True


def clean_stale_parts(folder: str | Path) -> list[Path]:
    """Remove temporaries in ``folder`` left by writers that died (their pid is gone). Returns them."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _PART.match(entry.name)
        if not match or not entry.is_file(follow_symlinks=False):
            continue
        if _pid_alive(int(match.group(1))):
            continue
        with contextlib.suppress(OSError):
            os.unlink(entry.path)
            removed.append(Path(entry.path))
            log.info("removed %s, left by an interrupted write", entry.path)
    return removed


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` on success.

    On any exception the temporary file is removed and ``target`` is left untouched.
    """
    target = Path(target)
    clean_stale_parts(target.parent)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".part", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def atomic_write_bytes(target: str | Path, data: bytes) -> None:
    """Write ``data`` to ``target`` through a temporary file and a rename."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)

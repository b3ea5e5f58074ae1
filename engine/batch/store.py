"""A batch's inputs and its results on disk: which models, which results are current, saving each.

Each model's result is its own JSON file under ``OUTDIR/results/``, written as soon as the
job finishes, so an interrupted batch loses nothing. A result is current when the file's
size and modification time (or, if those changed, its SHA-256) and the batch options are
the ones it was made with; a rerun skips current results.
"""

from __future__ import annotations

import glob
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import FormatError, OutputPathError
from engine.fileio import atomic_write_bytes

log = logging.getLogger(__name__)

#: the graph formats a batch converts, by suffix.
MODEL_SUFFIXES = (".mindir", ".onnx")
RESULTS = "results"
CONVERTED = "converted"


@dataclass(frozen=True)
class ModelFile:
    """One model of a batch: its path and its name in reports (relative to the inputs' root)."""

    path: Path
    label: str

    @property
    def result_name(self) -> str:
        return self.label + ".json"


def discover(inputs: list[str], outdir: str | Path | None = None) -> list[ModelFile]:
    """The model files named by ``inputs``: files, folders (searched recursively) or glob patterns.

    Files under ``outdir`` are left out, so a batch never converts its own outputs.

    Raises:
        FormatError: an input names nothing, or nothing named is a MindIR or ONNX file.
    """
    found: list[Path] = []
    for text in inputs:
        p = Path(text)
        if p.is_dir():
            hits = sorted(f for f in p.rglob("*") if f.suffix.lower() in MODEL_SUFFIXES and f.is_file())
        elif p.is_file():
            hits = [p]
        else:
            hits = sorted(Path(f) for f in glob.glob(text, recursive=True) if Path(f).is_file())
            if not hits:
                raise FormatError("no such file or folder, and no file matches it as a pattern", path=text)
            hits = [f for f in hits if f.suffix.lower() in MODEL_SUFFIXES]
        found.extend(hits)
    out = Path(outdir).resolve() if outdir is not None else None
    unique = list(dict.fromkeys(f.resolve() for f in found if out is None or out not in f.resolve().parents))
    if not unique:
        raise FormatError(f"no MindIR or ONNX files ({', '.join(MODEL_SUFFIXES)}) in {' '.join(inputs)}")
    root = _common_root(unique)
    return [ModelFile(f, f.relative_to(root).as_posix()) for f in unique]


def _common_root(paths: list[Path]) -> Path:
    """The folder labels are relative to; one level up when all files share a folder, so labels name it."""
    import os

    root = Path(os.path.commonpath([p.parent for p in paths]))
    return root.parent if all(p.parent == root for p in paths) else root


class ResultStore:
    """The results of a batch in ``OUTDIR/results``, one JSON file per model.

    Args:
        outdir: the batch's output folder (created when missing).
    """

    def __init__(self, outdir: str | Path) -> None:
        self.outdir = Path(outdir)
        if self.outdir.exists() and not self.outdir.is_dir():
            raise OutputPathError("the batch output is a file; give a folder", path=self.outdir)
        (self.outdir / RESULTS).mkdir(parents=True, exist_ok=True)

    def path_for(self, model: ModelFile) -> Path:
        return self.outdir / RESULTS / model.result_name

    def converted_path(self, model: ModelFile, fmt: str) -> Path:
        """Where the converted file goes: ``converted/<label>.<fmt>`` (model.mindir -> model.mindir.onnx)."""
        return self.outdir / CONVERTED / f"{model.label}.{fmt}"

    def load(self, model: ModelFile) -> dict[str, Any] | None:
        path = self.path_for(model)
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            log.warning("ignoring an unreadable batch result %s", path)
            return None

    def save(self, record: dict[str, Any], model: ModelFile) -> Path:
        path = self.path_for(model)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, json.dumps(record, indent=1, default=str).encode())
        return path

    def current(self, model: ModelFile, key: dict[str, Any], *, retry_failed: bool = False
                ) -> tuple[dict[str, Any] | None, bytes | None]:
        """The stored result if it is current, else None; and the file's bytes when they had to be read.

        Size and mtime equal: current without reading the file. Size equal, mtime not: the
        file is hashed (and those bytes returned, so the job need not read them again).
        """
        record = self.load(model)
        if record is None or record.get("options") != key:
            return None, None
        if retry_failed and record.get("status") != "ok":
            return None, None
        if record.get("failed_stage") in ("worker", "transport"):
            return None, None  # a worker died, Ray lost the task, the file could not travel: try again
        st = model.path.stat()
        source = record.get("source") or {}
        if source.get("size") != st.st_size:
            return None, None
        if source.get("mtime_ns") == st.st_mtime_ns:
            return record, None
        data = model.path.read_bytes()
        if source.get("sha256") == hashlib.sha256(data).hexdigest():
            source["mtime_ns"] = st.st_mtime_ns  # touched, not changed: still current
            self.save(record, model)
            return record, data
        return None, data


def source_info(model: ModelFile, data: bytes | None = None) -> dict[str, Any]:
    """Size, mtime and (when the bytes are at hand) hash of a model file, for its result's key."""
    st = model.path.stat()
    info: dict[str, Any] = {"path": str(model.path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    if data is not None:
        info["sha256"] = hashlib.sha256(data).hexdigest()
    return info

"""Run history: every benchmark saved as one JSON file, listed and loaded back by id or path.

Runs live under ``platformdirs.user_data_dir("deploy-studio")/runs``, or
``$DSTUDIO_DATA_DIR/runs`` when that variable is set (tests point it at a temporary folder).
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from engine.errors import InputError
from engine.fileio import atomic_write_bytes

log = logging.getLogger(__name__)

ENV_VAR = "DSTUDIO_DATA_DIR"


def data_dir() -> Path:
    """The studio's data folder (not created)."""
    override = os.environ.get(ENV_VAR)
    if override:
        return Path(override)
    from platformdirs import user_data_dir

    return Path(user_data_dir("deploy-studio", appauthor=False))


def runs_dir() -> Path:
    """Where run files go (not created)."""
    return data_dir() / "runs"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.")[-40:].strip("-.") or "run"


def new_run_id(model: str, target: str) -> str:
    """A sortable, unique id: ``20250101-120000-lenet5-onnxruntime-cpu-3f2a``."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    stem = re.sub(r"\.[A-Za-z]+$", "", model)
    return f"{stamp}-{_slug(stem)}-{_slug(target.replace(':', '-'))}-{secrets.token_hex(2)}"


def save_run(record: dict) -> str:
    """Append a run (a result's ``to_dict()``) to the history; returns its id (set in ``record``)."""
    folder = runs_dir()
    folder.mkdir(parents=True, exist_ok=True)
    run_id = record.get("run_id") or new_run_id(str(record.get("model", "model")), str(record.get("target", "")))
    record["run_id"] = run_id
    atomic_write_bytes(folder / f"{run_id}.json", json.dumps(record, indent=1, default=str).encode())
    log.debug("saved run %s in %s", run_id, folder)
    return run_id


@dataclass
class RunSummary:
    """One line of ``dstudio compare --list``."""

    run_id: str
    started_at: str
    kind: str
    model: str
    target: str
    median_ms: float | None
    path: Path
    model_path: str = ""
    threads: int | None = None
    precision: str = ""
    batch: int | None = None
    inputs: str = ""

    def to_dict(self) -> dict:
        return {"run_id": self.run_id, "started_at": self.started_at, "kind": self.kind, "model": self.model,
                "target": self.target, "median_ms": self.median_ms, "path": str(self.path),
                "model_path": self.model_path, "threads": self.threads, "precision": self.precision,
                "batch": self.batch, "inputs": self.inputs}


def _summary(data: dict, path: Path) -> RunSummary:
    first = (data.get("runs") or [data])[0] if data.get("kind") == "sweep" else data
    options = first.get("options") or {}
    shapes = (first.get("inputs") or {}).get("shapes") or {}
    return RunSummary(
        run_id=data.get("run_id", path.stem), started_at=data.get("started_at", ""), kind=data.get("kind", "bench"),
        model=data.get("model", "?"), target=data.get("target", "?"),
        median_ms=(data.get("stats") or (data.get("points") or [{}])[0]).get("median_ms"), path=path,
        model_path=first.get("model_path", ""), threads=options.get("threads"), precision=options.get("precision") or "",
        batch=first.get("batch"),
        inputs=", ".join(f"{k} {'x'.join(str(d) for d in v) or 'scalar'}" for k, v in shapes.items()),
    )


def list_runs(limit: int | None = 20) -> list[RunSummary]:
    """The most recent runs first."""
    folder = runs_dir()
    if not folder.is_dir():
        return []
    files = sorted(folder.glob("*.json"), key=lambda p: p.name, reverse=True)
    out = []
    for path in files[:limit] if limit else files:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            log.warning("skipping unreadable run file %s", path)
            continue
        out.append(_summary(data, path))
    return out


def load_run(ref: str) -> dict:
    """A run by id (or unique id prefix, or ``last``) from the history, or from a JSON file path.

    Raises:
        InputError: no such run, an ambiguous prefix, or a file that is not a run.
    """
    path = Path(ref)
    if ref.endswith(".json") or path.is_file():
        if not path.is_file():
            raise InputError("no such run file", path=path)
        return _read(path)
    folder = runs_dir()
    if ref == "last":
        runs = list_runs(limit=1)
        if not runs:
            raise InputError(f"no runs recorded yet in {folder}")
        return _read(runs[0].path)
    exact = folder / f"{ref}.json"
    if exact.is_file():
        return _read(exact)
    matches = sorted(folder.glob(f"{ref}*.json")) if folder.is_dir() else []
    if len(matches) == 1:
        return _read(matches[0])
    if matches:
        raise InputError(f"run id {ref!r} is ambiguous: {', '.join(m.stem for m in matches[:5])}")
    raise InputError(f"no run {ref!r} in {folder}", hint="dstudio compare --list shows recent runs")


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"not a readable run file: {exc}", path=path) from exc
    if not isinstance(data, dict) or "stats" not in data or "target" not in data:
        raise InputError("not a benchmark run (no stats/target)", path=path)
    data.setdefault("run_id", path.stem)
    return data

"""The format registry: every file format the studio opens or writes, found by suffix and content.

Each format module registers one :class:`FileFormat` with a ``sniff`` that looks at the
first bytes of a file. :func:`detect` trusts content over suffix (a MindIR named ``.onnx``
opens as MindIR), and :func:`load` turns every failure into a :class:`FormatError` that
names the file and the problem.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import EngineError, FormatError
from engine.jobs import Job, as_job

if TYPE_CHECKING:
    from engine.model import Model

log = logging.getLogger(__name__)

HEAD_BYTES = 1 << 16

SniffFn = Callable[[bytes, Path], bool]
LoadFn = Callable[[Path, Job], "Model"]
SaveFn = Callable[["Model", Path, Job], None]


@dataclass(frozen=True)
class FileFormat:
    """One file format.

    Attributes:
        name: registry key, as used by ``--to`` ("onnx", "mindir", "ckpt", ...).
        label: what a person sees in a file dialog ("MindSpore MindIR").
        suffixes: lower-case suffixes with the dot.
        kind: "graph" for networks, "params" for parameter files.
        sniff: True when the head of a file looks like this format.
        load: read a file into a :class:`Model`.
        save: write a :class:`Model`, or None if the format is read-only here.
        priority: sniffers run from high to low priority.
    """

    name: str
    label: str
    suffixes: tuple[str, ...]
    kind: str
    sniff: SniffFn
    load: LoadFn
    save: SaveFn | None = None
    priority: int = 0
    description: str = field(default="", compare=False)


_REGISTRY: dict[str, FileFormat] = {}


def register(fmt: FileFormat) -> FileFormat:
    """Add a format; a second registration under the same name is a programming error."""
    if fmt.name in _REGISTRY:
        raise ValueError(f"format {fmt.name!r} registered twice")
    _REGISTRY[fmt.name] = fmt
    return fmt


def formats() -> list[FileFormat]:
    """All registered formats, highest priority first."""
    _ensure_builtin()
    return sorted(_REGISTRY.values(), key=lambda f: -f.priority)


def get(name: str) -> FileFormat:
    """The format registered as ``name``; FormatError listing the known names otherwise."""
    _ensure_builtin()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise FormatError(f"unknown format {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def for_suffix(path: str | Path) -> FileFormat | None:
    """The format a file name's suffix suggests, or None."""
    suffix = Path(path).suffix.lower()
    return next((f for f in formats() if suffix in f.suffixes), None)


def detect(path: str | Path) -> FileFormat:
    """Identify a file's format from its content, using the suffix to break ties.

    Raises:
        FormatError: the file is missing, empty, or matches no registered format.
    """
    path = Path(path)
    if not path.exists():
        raise FormatError("no such file", path=path)
    if path.is_dir():
        raise FormatError("is a folder, not a model file", path=path)
    with path.open("rb") as fh:
        head = fh.read(HEAD_BYTES)
    if not head:
        raise FormatError("file is empty", path=path)
    matches = [f for f in formats() if _safe_sniff(f, head, path)]
    by_suffix = for_suffix(path)
    if by_suffix is not None and by_suffix in matches:
        return by_suffix
    if matches:
        if by_suffix is not None:
            log.warning("%s: suffix says %s but content is %s; reading it as %s",
                        path, by_suffix.label, matches[0].label, matches[0].label)
        return matches[0]
    expected = by_suffix.label if by_suffix else "a model or parameter file"
    raise FormatError(
        f"not a recognised model file: expected {expected}, found {_describe(head)}",
        path=path,
        hint="supported: " + ", ".join(f"{f.label} ({'/'.join(f.suffixes)})" for f in formats()),
    )


def load(path: str | Path, *, job: Job | None = None, fmt: str | None = None) -> Model:
    """Open any supported file as a :class:`Model`.

    Args:
        path: the file.
        job: progress and cancel plumbing.
        fmt: force a format by registry name instead of detecting it.
    """
    path = Path(path)
    spec = get(fmt) if fmt else detect(path)
    job = as_job(job)
    try:
        model = spec.load(path, job)
    except EngineError:
        raise
    except MemoryError:
        raise FormatError(f"ran out of memory reading this {spec.label} file", path=path) from None
    except Exception as exc:  # a corrupt file can fail deep inside a parser
        raise FormatError(f"cannot read as {spec.label}: {_one_line(exc)}", path=path) from exc
    from engine.model import approx_size

    if model.onnx is not None and approx_size(model.onnx) < (1 << 30):
        model.seal()
    job.report(1.0, f"opened {path.name}")
    return model


def save(model: Model, path: str | Path, *, fmt: str | None = None, job: Job | None = None) -> FileFormat:
    """Write ``model`` to ``path`` in ``fmt`` (default: from the suffix). Returns the format used."""
    path = Path(path)
    spec = get(fmt) if fmt else for_suffix(path)
    if spec is None:
        raise FormatError(
            "cannot tell the output format from the suffix",
            path=path,
            hint="use a known suffix or pass the format (--to)",
        )
    if spec.save is None:
        raise FormatError(f"writing {spec.label} is not supported", path=path)
    from engine.fileio import check_output_path

    check_output_path(path, input_files(model))
    spec.save(model, path, as_job(job))
    return spec


EXTERNAL_FILES_KEY = "external_data"


def input_files(model: Model) -> list[Path]:
    """Every file ``model`` was read from: the source file and any external-data files it names.

    A writer must not touch any of them (writing the output over an ONNX model's own
    weights file destroys the input just as surely as writing over the model).
    """
    files: list[Path] = []
    if model.source_path is not None:
        files.append(Path(model.source_path))
        import json

        for name in json.loads(model.metadata.get(EXTERNAL_FILES_KEY) or "[]"):
            files.append(Path(model.source_path).parent / name)
    return files


def file_dialog_filter() -> str:
    """A Qt-style name filter string listing every readable format (computed, not Qt)."""
    entries = [f"{f.label} ({' '.join('*' + s for s in f.suffixes)})" for f in formats()]
    everything = " ".join(sorted({"*" + s for f in formats() for s in f.suffixes}))
    return ";;".join([f"All supported ({everything})", *entries])


def _safe_sniff(fmt: FileFormat, head: bytes, path: Path) -> bool:
    try:
        return bool(fmt.sniff(head, path))
    except Exception:  # a sniffer must never make detection fail
        log.debug("sniffer for %s raised on %s", fmt.name, path, exc_info=True)
        return False


def _describe(head: bytes) -> str:
    from engine.formats.protowire import is_printable

    if head[:4] == b"PK\x03\x04":
        return "a zip archive"
    if head[:6] == b"\x93NUMPY":
        return "a single numpy array (.npy)"
    sample = head[:256].replace(b"\n", b" ").replace(b"\r", b" ").replace(b"\t", b" ")
    if is_printable(sample) and sample.lstrip()[:1] in (b"{", b"["):
        return "JSON text"
    if is_printable(sample):
        return "text"
    return f"{len(head)}+ bytes of unrecognised binary data (starts {head[:8].hex(' ')})"


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


_loaded = False


def _ensure_builtin() -> None:
    """Import the built-in format modules once; each registers itself."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    import importlib

    for module in ("onnx_format", "mindir", "checkpoint", "safetensors_format", "npz_format", "mslite", "air_format"):
        try:
            importlib.import_module(f"engine.formats.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"engine.formats.{module}":
                raise

"""Conversion between graph formats through the canonical ONNX model (MindIR <-> ONNX)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from engine import formats
from engine.errors import FormatError
from engine.fileio import check_output_path
from engine.jobs import Job, as_job


@dataclass
class ConvertResult:
    """Where a conversion wrote, in which format, and how long each half took."""

    source: Path
    output: Path
    source_format: str
    format: str
    load_seconds: float
    save_seconds: float

    @property
    def seconds(self) -> float:
        return self.load_seconds + self.save_seconds

    def to_dict(self) -> dict[str, object]:
        return {
            "source": str(self.source),
            "output": str(self.output),
            "source_format": self.source_format,
            "format": self.format,
            "load_seconds": self.load_seconds,
            "save_seconds": self.save_seconds,
            "seconds": self.seconds,
        }


def convert(src: str | Path, dst: str | Path, *, fmt: str | None = None, job: Job | None = None) -> ConvertResult:
    """Read ``src`` and write it to ``dst``: a network to a graph format, or a parameter file to a parameter format.

    Args:
        src: the input model file.
        dst: the output path; never equal to ``src``.
        fmt: output format by registry name ("onnx", "mindir"); default from ``dst``'s suffix.
        job: progress and cancel plumbing.

    Raises:
        FormatError: unreadable input, a parameter-only file, or an unknown output format.
        OutputPathError: ``dst`` is the input or cannot be written.
    """
    src, dst = Path(src), Path(dst)
    job = as_job(job)
    check_output_path(dst, [src])
    target = formats.get(fmt) if fmt else formats.for_suffix(dst)
    if target is None:
        raise FormatError("cannot tell the output format from the suffix", path=dst, hint="pass --to onnx|mindir")
    start = time.perf_counter()
    model = formats.load(src, job=job.sub(0.0, 0.6))
    if target.kind == "graph":
        model.require_graph()
    elif model.params is None:
        # A parameter format takes a parameter set: ckpt <-> safetensors <-> npz, never a network.
        raise FormatError(f"{target.label} holds parameters only; {src.name} is a network, not a parameter file",
                          path=dst, hint="bind parameters into a graph with export; convert parameter files between "
                          "ckpt, safetensors and npz")
    loaded = time.perf_counter()
    formats.save(model, dst, fmt=target.name, job=job.sub(0.6, 1.0))
    done = time.perf_counter()
    job.report(1.0, f"wrote {dst.name}")
    return ConvertResult(src, dst, model.source_format, target.name, loaded - start, done - loaded)

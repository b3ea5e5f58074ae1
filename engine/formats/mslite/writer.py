"""Writing ``.ms``: the canonical ONNX graph through MindSpore Lite's own converter (in the Lite venv).

There is no second converter here: Lite's converter is the one that knows Lite's ops and
their fused forms, so the model goes to it as ONNX (cached by content) and its output is
copied into place through a temporary file.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import FormatError, TargetError

if TYPE_CHECKING:
    from engine.jobs import Job
    from engine.model import Model

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "fp16", "int8")


def save(model: Model, path: Path, job: Job, *, precision: str = "fp32") -> None:
    """Write ``model`` as a Lite ``.ms`` at ``path``.

    Args:
        model: a network with its ONNX graph.
        path: the output file (written to a temporary file, then renamed).
        job: progress plumbing.
        precision: "fp32", "fp16" (Lite's fp16 weights) or "int8" (Lite's 8-bit weight quantization;
            MatMul/Gemm weights stay float, see ``mslite_env.INT8_FLOAT_OPS``, and a warning says so).

    Raises:
        FormatError: the Lite environment is missing, or Lite's converter refused the model.
    """
    from engine.backends import mslite_env

    model.require_graph()
    job.report(0.1, "converting with MindSpore Lite's converter")
    try:
        data, skip = mslite_env.model_bytes(model, precision=precision)
        produced, _ = mslite_env.convert_onnx(data, precision=precision, skip_quant=skip)
    except TargetError as exc:
        raise FormatError(f"cannot write .ms: {exc.args[0] if exc.args else exc}", path=path,
                          hint="dstudio targets says how to set up MindSpore Lite") from None
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    os.close(fd)
    try:
        shutil.copyfile(produced, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if skip:
        log.warning("%s: int8 keeps the weights of %d MatMul/Gemm node(s) float: MindSpore Lite 2.0's CPU runtime "
                    "cannot run its own 8-bit MatMul weights", path.name, len(skip))
    job.report(1.0, f"wrote {path.name}")


def convert(src: str | Path, dst: str | Path, *, precision: str = "fp32", job: Job | None = None):
    """``dstudio convert SRC -o DST.ms --precision P``: any network we open -> ``.ms`` at that precision.

    Returns:
        An :class:`engine.convert.ConvertResult`.
    """
    import time

    from engine import formats
    from engine.convert import ConvertResult
    from engine.fileio import check_output_path
    from engine.jobs import as_job

    if precision not in PRECISIONS:
        raise FormatError(f"unknown precision {precision!r} for .ms; use {', '.join(PRECISIONS)}", path=dst)
    src, dst = Path(src), Path(dst)
    job = as_job(job)
    check_output_path(dst, [src])
    start = time.perf_counter()
    model = formats.load(src, job=job.sub(0.0, 0.5))
    check_output_path(dst, formats.input_files(model))
    loaded = time.perf_counter()
    save(model, dst, job.sub(0.5, 1.0), precision=precision)
    done = time.perf_counter()
    return ConvertResult(src, dst, model.source_format, f"mslite ({precision})", loaded - start, done - loaded)

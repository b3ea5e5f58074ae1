"""Export from a network definition: ``net.py:ClassName`` + a checkpoint -> MindIR or ONNX, proven by ``predict``.

The Cell is built, bound (the strict report of graph export), run with ``Model.predict``
(local inference) and exported by MindSpore itself, in a spawned worker process
(:mod:`engine.netexport.worker`) so that MindSpore never loads into the caller. ONNX comes
from MindSpore's own ONNX export where it works, else from our converter applied to the
MindIR MindSpore wrote; the result says which. Every written file is re-run and compared
with ``predict``'s outputs.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.errors import BindingError, FormatError, TargetError
from engine.fileio import atomic_write_bytes, check_output_path
from engine.jobs import Job, as_job
from engine.params import BindingReport

log = logging.getLogger(__name__)

TIMEOUT_S = 900.0


@dataclass
class NetExportResult:
    """What an export from a definition wrote and how it was proven.

    Attributes:
        output: the written file.
        format: "mindir" or "onnx".
        method: how the file was made ("mindspore.export MINDIR", "mindspore.export ONNX", or
            "our converter from MindSpore's MindIR (MindSpore's ONNX export failed: ...)").
        report: the binding report of the parameter file into the Cell.
        predict_max_abs: largest |exported file's output - Model.predict's output|.
        input_shape: the shape of the input used.
        outputs: ``predict``'s outputs (the local inference).
    """

    output: Path
    format: str
    method: str
    report: BindingReport
    predict_max_abs: float
    input_shape: tuple[int, ...]
    seconds: float
    outputs: list[np.ndarray] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, object]:
        return {"output": str(self.output), "format": self.format, "method": self.method,
                "report": self.report.to_dict(), "predict_max_abs": self.predict_max_abs,
                "input_shape": list(self.input_shape), "seconds": self.seconds,
                "predict_outputs": [list(o.shape) for o in self.outputs]}


def parse_net_spec(spec: str) -> tuple[Path, str]:
    """``path/to/net.py:ClassName`` -> (path, class name), checked."""
    path, sep, name = spec.rpartition(":")
    if not sep or not path or not name.isidentifier():
        raise FormatError(f"--net takes path/to/net.py:ClassName, not {spec!r}")
    file = Path(path)
    if not file.is_file():
        raise FormatError("no such network definition file", path=file)
    return file, name


def export_net(
    net: str,
    params: str | Path,
    output: str | Path,
    *,
    input_shape: tuple[int, ...] | None = None,
    inputs: str | Path | None = None,
    args: list | dict | None = None,
    seed: int = 0,
    force: bool = False,
    job: Job | None = None,
) -> NetExportResult:
    """Build ``net``, bind ``params``, run predict on the input, export and prove the file.

    Args:
        net: ``path/to/net.py:ClassName``.
        params: a checkpoint (or safetensors/npz) for the Cell.
        output: a ``.mindir`` or ``.onnx`` path; never one of the inputs.
        input_shape: shape of a seeded float32 input (standard normal), when ``inputs`` is None.
        inputs: a ``.npy`` holding the input instead.
        args: constructor arguments (a JSON list or object).
        seed: seed of the generated input.
        force: bind what fits instead of refusing.

    Raises:
        BindingError: the parameter file does not fit the Cell (with the report).
        TargetError: MindSpore is missing, or the worker failed (its one-line reason).
    """
    import importlib.util

    job = as_job(job)
    net_file, class_name = parse_net_spec(net)
    params, output = Path(params), Path(output)
    check_output_path(output, [net_file, params])
    fmt = {".mindir": "mindir", ".onnx": "onnx"}.get(output.suffix.lower())
    if fmt is None:
        raise FormatError("export --net writes .mindir or .onnx", path=output)
    if importlib.util.find_spec("mindspore") is None:
        raise TargetError("export --net runs the network in MindSpore, which is not installed",
                          hint="pip install 'deploy-studio[mindspore]'")
    work = Path(tempfile.mkdtemp(prefix="dstudio-netexport-"))
    start = time.perf_counter()
    try:
        if inputs is not None:
            x = np.load(inputs)
        elif input_shape:
            x = np.random.default_rng(seed).standard_normal(input_shape).astype(np.float32)
        else:
            raise FormatError("give the input shape (--input-shape 1,3,224,224) or an input file (--inputs x.npy)")
        np.save(work / "input.npy", x)
        request = {"net_file": str(net_file.resolve()), "class_name": class_name, "args": args,
                   "params": str(params.resolve()), "input": str(work / "input.npy"), "workdir": str(work),
                   "format": fmt, "force": force}
        job.report(0.05, "building the network in MindSpore")
        reply = _run_worker(request, job)
        if reply[0] != "ok":
            _, kind, message, report = reply
            if kind == "binding":
                raise BindingError(message, report=report, path=params,
                                   hint="fix the names or shapes, or bind what fits with --force")
            raise TargetError(f"export of {class_name} failed in MindSpore: {kind}: {message}", path=net_file)
        result = reply[1]
        outputs = [np.load(work / f"predict_{i}.npy") for i in range(result["outputs"])]
        job.report(0.8, "checking the exported file")
        method, produced, diff = _finish(fmt, work, x, outputs, result)
        atomic_write_bytes(output, produced.read_bytes())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    job.report(1.0, f"wrote {output.name}")
    return NetExportResult(output, fmt, method, result["report"], diff, tuple(x.shape), time.perf_counter() - start,
                           outputs)


def _finish(fmt: str, work: Path, x: np.ndarray, outputs: list[np.ndarray], result: dict) -> tuple[str, Path, float]:
    """The file to deliver, how it was made, and its largest difference from predict."""
    if fmt == "mindir":
        return "mindspore.export MINDIR", work / "net.mindir", float(result["mindir_max_abs"])
    onnx_file = work / "net.onnx"
    if not result["onnx_error"] and onnx_file.is_file():
        method = "mindspore.export ONNX"
    else:
        from engine import formats

        model = formats.load(work / "net.mindir")
        model.require_graph()
        formats.save(model, onnx_file, fmt="onnx")
        method = f"our converter from MindSpore's MindIR (MindSpore's ONNX export failed: {result['onnx_error']})"
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x})
    if len(got) != len(outputs):
        raise TargetError(f"the ONNX file has {len(got)} outputs, predict gave {len(outputs)}")
    diff = max(float(np.max(np.abs(a - b))) if a.size else 0.0 for a, b in zip(got, outputs))
    return method, onnx_file, diff


def _run_worker(request: dict, job: Job) -> tuple:
    import multiprocessing

    from engine.netexport.worker import run

    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=run, args=(child, request), name="dstudio-netexport", daemon=True)
    proc.start()
    child.close()
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while True:
            try:
                if parent.poll(0.1):
                    return parent.recv()
            except (EOFError, OSError):
                pass  # the worker died mid-message: reported below
            if not proc.is_alive():
                raise TargetError(f"the MindSpore worker exited (code {proc.exitcode}) while exporting",
                                  hint="run with -v to see MindSpore's log on stderr")
            job.check()  # raises Cancelled; the finally below ends the worker
            if time.monotonic() > deadline:
                raise TargetError(f"the MindSpore worker did not finish within {TIMEOUT_S:.0f} s")
    finally:
        if proc.is_alive():
            proc.terminate()
        proc.join(timeout=10)
        parent.close()


def parse_args_json(text: str | None) -> list | dict | None:
    """``--args`` JSON: a list (positional) or an object (keywords)."""
    if not text:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormatError(f"--args is not JSON: {exc}") from None
    if not isinstance(value, (list, dict)):
        raise FormatError("--args takes a JSON list (positional) or object (keywords)")
    return value

"""The export-from-definition worker: runs in a spawned process where MindSpore is imported.

Builds the Cell from a Python file, binds the parameter file with the strict report,
runs ``Model.predict`` on the input (local inference), exports through ``mindspore.export``
and re-runs the exported MindIR. MindSpore's stdout noise goes to stderr; the single
result goes back over the pipe as a dict.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import traceback
from pathlib import Path


def build_cell(net_file: str, class_name: str, args):
    """Import ``net_file`` as a module and instantiate ``class_name`` with ``args`` (list or dict)."""
    path = Path(net_file).resolve()
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        raise ValueError(f"{path} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))  # the definition may import its siblings
    sys.modules[path.stem] = module  # MindSpore's graph parser looks the Cell's module up by name
    spec.loader.exec_module(module)
    cls = getattr(module, class_name, None)
    if cls is None:
        raise ValueError(f"{path.name} defines no {class_name!r}")
    if isinstance(args, dict):
        return cls(**args)
    return cls(*(args or []))


def bind_report(net, params) -> dict:
    """Strict binding of a ParameterSet into the Cell's parameters: the same report as graph export."""
    import numpy as np

    from engine.export import match_key
    from engine.params import BindingReport

    cell = {p.name: p for p in net.get_parameters()}
    by_key: dict = {}
    for name in cell:
        by_key.setdefault(match_key(name), []).append(name)
    report = BindingReport()
    values: dict = {}
    for name, array in params.items():
        target = name if name in cell else (by_key.get(match_key(name), [None, None])[0]
                                              if len(by_key.get(match_key(name), [])) == 1 else None)
        if target is None or target in values:
            report.unexpected.append(name)
            continue
        want_shape = tuple(int(d) for d in cell[target].shape)
        want_dtype = str(np.dtype(cell[target].asnumpy().dtype))
        array = np.asarray(array)
        if want_shape != tuple(array.shape) or want_dtype != str(array.dtype.newbyteorder("=")):
            report.mismatched.append((target, want_shape, tuple(array.shape), want_dtype, str(array.dtype)))
            values[target] = None
            continue
        values[target] = array
        report.matched.append(target)
    report.missing = [n for n in cell if n not in values]
    return {"report": report, "values": {k: v for k, v in values.items() if v is not None}}


def run(conn, request: dict) -> None:
    """Worker entry point: one request, one reply ``("ok", result)`` or ``("error", kind, message, report)``."""
    try:
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    except OSError:
        pass
    try:
        conn.send(("ok", _export(request)))
    except _Refused as exc:
        conn.send(("error", "binding", str(exc), exc.report))
    except BaseException as exc:  # any failure comes back as one line
        sys.stderr.write(traceback.format_exc())
        lines = [line for line in str(exc).strip().splitlines() if line.strip()]
        conn.send(("error", type(exc).__name__, (lines[0] if lines else type(exc).__name__)[:400], None))


class _Refused(Exception):
    def __init__(self, message: str, report) -> None:
        super().__init__(message)
        self.report = report


def _export(req: dict) -> dict:
    import numpy as np

    import mindspore as ms

    from engine import formats

    ms.set_context(mode=ms.GRAPH_MODE)
    ms.set_device("CPU")
    net = build_cell(req["net_file"], req["class_name"], req.get("args"))
    net.set_train(False)
    params = formats.load(req["params"]).params
    if params is None:
        raise ValueError(f"{Path(req['params']).name} holds no parameters")
    bound = bind_report(net, params)
    report = bound["report"]
    if not report.ok and not req.get("force"):
        raise _Refused(f"parameters do not fit the network: {report.summary()}", report)
    ms.load_param_into_net(net, {k: ms.Parameter(ms.Tensor(v), name=k) for k, v in bound["values"].items()})

    x = np.load(req["input"])
    predicted = ms.Model(net).predict(ms.Tensor(x))
    outs = [o.asnumpy() for o in (predicted if isinstance(predicted, (tuple, list)) else [predicted])]
    work = Path(req["workdir"])
    for i, out in enumerate(outs):
        np.save(work / f"predict_{i}.npy", out)

    result = {"report": report, "outputs": len(outs), "mindspore_version": ms.__version__, "onnx_error": ""}
    ms.export(net, ms.Tensor(x), file_name=str(work / "net"), file_format="MINDIR")
    mindir = work / "net.mindir"
    rerun = ms.nn.GraphCell(ms.load(str(mindir)))(ms.Tensor(x))
    rerun = [o.asnumpy() for o in (rerun if isinstance(rerun, (tuple, list)) else [rerun])]
    result["mindir_max_abs"] = max(float(np.max(np.abs(a - b))) if a.size else 0.0 for a, b in zip(outs, rerun))
    if req["format"] == "onnx":
        try:
            ms.export(net, ms.Tensor(x), file_name=str(work / "net"), file_format="ONNX")
        except BaseException as exc:  # MindSpore's ONNX export covers few ops; our converter takes over
            lines = [line for line in str(exc).strip().splitlines() if line.strip()]
            result["onnx_error"] = (lines[0] if lines else type(exc).__name__)[:300]
    return result

"""Shared plumbing for the passes that wrap ``onnxruntime.quantization``.

The quantizer works on files, logs through the root logger and may emit Python
warnings; this module gives it a scratch folder, keeps its chatter out of the
caller's output (re-logged at DEBUG here), and feeds it calibration samples.
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import onnx

from engine.errors import InputError

log = logging.getLogger(__name__)


class _Quiet(logging.Filter):
    """Drop records from onnxruntime.quantization, re-logging them at DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "onnxruntime" in record.pathname or record.name.startswith("onnxruntime"):
            log.debug("onnxruntime.quantization: %s", record.getMessage())
            return False
        return True


@contextlib.contextmanager
def quiet_quantizer() -> Iterator[None]:
    """Silence the quantizer's warnings and root-logger messages for the duration."""
    quiet = _Quiet()
    root = logging.getLogger()
    loggers = [root] + [logging.getLogger(n) for n in list(logging.root.manager.loggerDict)
                        if n.startswith("onnxruntime")]
    for lg in loggers:
        lg.addFilter(quiet)
    try:
        # The calibrators print progress with print(); keep it off the caller's stdout.
        with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(io.StringIO()) as chatter:
            warnings.simplefilter("always")
            yield
        if chatter.getvalue().strip():
            log.debug("quantizer output: %s", chatter.getvalue().strip())
        for w in caught:
            log.debug("quantizer warning: %s", w.message)
    finally:
        for lg in loggers:
            lg.removeFilter(quiet)


@contextlib.contextmanager
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="dstudio-quant-") as tmp:
        yield Path(tmp)


def save(model: onnx.ModelProto, path: Path) -> Path:
    onnx.save_model(model, str(path))
    return path


def load(path: Path) -> onnx.ModelProto:
    return onnx.load(str(path), load_external_data=True)


def preprocess(model: onnx.ModelProto, folder: Path, *, optimize: bool = True) -> onnx.ModelProto:
    """``quant_pre_process``: symbolic shape inference and ORT's basic graph optimisation."""
    from onnxruntime.quantization import quant_pre_process

    src, dst = save(model, folder / "pre_in.onnx"), folder / "pre_out.onnx"
    try:
        with quiet_quantizer():
            quant_pre_process(str(src), str(dst), skip_optimization=not optimize)
        return load(dst)
    except Exception as exc:  # symbolic shape inference gives up on some graphs
        log.info("quant_pre_process failed (%s); quantizing without it", str(exc).splitlines()[0][:200])
        return model


def calibration_samples(calibration: object, model: onnx.ModelProto, *, samples: int, seed: int) -> list[dict[str, np.ndarray]]:
    """Calibration feeds: from ``calibration`` when given, else seeded random inputs.

    ``calibration`` may be a path to an ``.npz`` (arrays named by input; a leading axis
    one longer than the input's rank stacks samples), a mapping of such arrays, or a
    sequence of feed dicts.
    """
    from engine.inputs import input_specs, make_feeds

    specs = input_specs(model)
    if calibration is None:
        return [make_feeds(specs, seed=seed + i) for i in range(samples)]
    if isinstance(calibration, Sequence) and not isinstance(calibration, (str, bytes)):
        return [dict(f) for f in calibration]
    if isinstance(calibration, (str, Path)):
        path = Path(calibration)
        try:
            with np.load(path) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except Exception as exc:
            raise InputError(f"cannot read calibration data: {exc}", path=path,
                             hint="give an .npz with one array per model input") from exc
    elif isinstance(calibration, Mapping):
        arrays = dict(calibration)
    else:
        raise InputError(f"calibration data of type {type(calibration).__name__} is not understood")
    positional = [f"arr_{i}" for i in range(len(specs))]
    if sorted(arrays) == sorted(positional) and not any(s.name in arrays for s in specs):
        arrays = {s.name: arrays[k] for s, k in zip(specs, positional)}  # np.savez(path, a, b)
    missing = [s.name for s in specs if s.name not in arrays]
    if missing:
        raise InputError(f"calibration data lacks input(s) {', '.join(missing)}",
                         hint="name the arrays after the model inputs: " + ", ".join(s.name for s in specs))
    counts = set()
    stacked = {}
    for s in specs:
        a = np.asarray(arrays[s.name])
        if a.ndim == len(s.shape):
            a = a[None]
        elif a.ndim != len(s.shape) + 1:
            raise InputError(f"calibration array {s.name!r} has shape {a.shape}, input is {s.shape_text()}")
        stacked[s.name] = a.astype(s.dtype, copy=False)
        counts.add(a.shape[0])
    if len(counts) != 1:
        raise InputError("calibration arrays have different sample counts: " + str(sorted(counts)))
    n = counts.pop()
    return [{k: v[i] for k, v in stacked.items()} for i in range(n)]


def data_reader(feeds: list[dict[str, np.ndarray]]):
    """A ``CalibrationDataReader`` over a list of feed dicts."""
    from onnxruntime.quantization import CalibrationDataReader

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter(feeds)

        def get_next(self):
            return next(self._it, None)

        def rewind(self) -> None:
            self._it = iter(feeds)

    return _Reader()


def gemm_to_matmul_add(model: onnx.ModelProto) -> int:
    """Rewrite ``Gemm(A, B, C)`` with constant B (transA 0, alpha 1, beta 1) as MatMul + Add.

    The dynamic quantizer has a MatMul rule and no Gemm rule. In place; returns the count.
    """
    from onnx import helper, numpy_helper

    from engine.passes import _graph

    graph = model.graph
    inits, prods = _graph.initializer_map(graph), _graph.producers(graph)
    new_name = _graph.NameGen(model)
    nodes, count = [], 0
    for node in graph.node:
        b = _graph.constant_value(graph, node.input[1], inits, prods) if node.op_type == "Gemm" and len(node.input) > 1 else None
        if (b is None or node.domain not in ("", "ai.onnx") or _graph.attr(node, "transA", 0)
                or _graph.attr(node, "alpha", 1.0) != 1.0 or _graph.attr(node, "beta", 1.0) != 1.0 or b.ndim != 2):
            nodes.append(node)
            continue
        if _graph.attr(node, "transB", 0):
            b_name = new_name(node.input[1] + "_t")
            graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(b.T), b_name))
        else:
            b_name = node.input[1]
        has_c = len(node.input) > 2 and node.input[2]
        mm_out = new_name(node.output[0] + "_mm") if has_c else node.output[0]
        nodes.append(helper.make_node("MatMul", [node.input[0], b_name], [mm_out], name=new_name((node.name or "gemm") + "_matmul")))
        if has_c:
            nodes.append(helper.make_node("Add", [mm_out, node.input[2]], [node.output[0]], name=new_name((node.name or "gemm") + "_add")))
        count += 1
    del graph.node[:]
    graph.node.extend(nodes)
    _graph.prune_unused_initializers(graph)
    return count

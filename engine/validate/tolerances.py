"""Default parity tolerances by precision, and finding the precision a graph computes in.

The table is deliberately explicit: a deployment engineer should be able to read why an
fp16 model passed. Comparisons use the numpy ``allclose`` rule
``|candidate - reference| <= atol + rtol * |reference|``, element-wise.

=====================  =======  =======  ===============================================
precision              rtol     atol     why
=====================  =======  =======  ===============================================
float64                1e-7     1e-9     different summation orders only
float32                1e-4     1e-5     ~800 ulp: reordered reductions, fused kernels
float16                1e-2     1e-2     eps 9.8e-4 and accumulation through the graph
bfloat16               5e-2     5e-2     eps 7.8e-3 (8 bits of mantissa)
int8 (quantized)       1e-1     1e-1     a few quantisation steps of a unit-range output
integers, bool         0        0        must match exactly
=====================  =======  =======  ===============================================
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import numpy as np

log = logging.getLogger(__name__)

#: precision name -> (rtol, atol)
TOLERANCES: dict[str, tuple[float, float]] = {
    "float64": (1e-7, 1e-9),
    "float32": (1e-4, 1e-5),
    "float16": (1e-2, 1e-2),
    "bfloat16": (5e-2, 5e-2),
    "int8": (1e-1, 1e-1),
    "exact": (0.0, 0.0),
}

# Loosest last: when two precisions meet, the later one in this list wins.
_ORDER = ("exact", "float64", "float32", "float16", "bfloat16", "int8")

# ONNX TensorProto element types, by number, so this module needs no protobuf classes.
_ONNX_FLOAT_TYPES = {1: "float32", 10: "float16", 11: "float64", 16: "bfloat16"}
_QUANT_OPS = {
    "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "QLinearConv", "QLinearMatMul",
    "MatMulInteger", "ConvInteger", "QLinearAdd", "QLinearMul", "QLinearSigmoid",
    "QLinearLeakyRelu", "QLinearGlobalAveragePool", "QLinearAveragePool", "QLinearConcat",
    "DynamicQuantizeMatMul", "MatMulIntegerToFloat", "QGemm", "MatMulNBits",
}


def precision_name(dtype: object) -> str:
    """Map a dtype (numpy dtype, type, or name such as "float16", "bf16", "int8") to a key of
    :data:`TOLERANCES`.

    Integer dtypes other than the quantised ``int8``/``uint8`` compare exactly, as do bools
    and strings.
    """
    if isinstance(dtype, str):
        text = dtype.lower().replace("tensor(", "").rstrip(")")
        aliases = {"fp64": "float64", "double": "float64", "fp32": "float32", "float": "float32",
                   "fp16": "float16", "half": "float16", "bf16": "bfloat16", "uint8": "int8",
                   "quantized": "int8", "int8-quantized": "int8", "qint8": "int8"}
        text = aliases.get(text, text)
        if text in TOLERANCES:
            return text
        try:
            dtype = np.dtype(text)
        except TypeError:
            return "exact"
    dt = _to_numpy_dtype(dtype)
    if dt is None:
        return "exact"
    if dt.name == "bfloat16":
        return "bfloat16"
    if dt.kind == "f":
        return {8: "float64", 4: "float32", 2: "float16"}.get(dt.itemsize, "float16" if dt.itemsize < 2 else "float32")
    if dt.kind == "c":
        return "float64" if dt.itemsize >= 16 else "float32"
    if dt in (np.dtype(np.int8), np.dtype(np.uint8)):
        return "int8"
    return "exact"


def default_tolerance(dtype: object) -> tuple[float, float]:
    """The default ``(rtol, atol)`` for comparing tensors computed in ``dtype``.

    Args:
        dtype: a numpy dtype or type, or a precision name ("float32", "fp16", "bf16",
            "int8" for a quantised graph).

    Returns:
        ``(rtol, atol)``; fp32 is tighter than fp16, bf16 and int8-quantised.
    """
    return TOLERANCES[precision_name(dtype)]


def loosest(precisions: Iterable[str]) -> str:
    """The loosest of several precision names (an fp16 run against fp32 is judged as fp16)."""
    found = [p for p in precisions if p in _ORDER]
    return max(found, key=_ORDER.index) if found else "float32"


def output_precision(reference: np.ndarray, candidate: np.ndarray) -> str:
    """The precision two output arrays are judged at: the looser of their dtypes.

    Integer outputs compare exactly even when a model was quantised (class indices must match).
    """
    names = [precision_name(reference.dtype), precision_name(candidate.dtype)]
    if "exact" in names and not all(n == "exact" for n in names):
        names = [n for n in names if n != "exact"]
    names = [n for n in names if n != "int8"] or names  # int8 *outputs* are data, not quantised math
    return loosest(names)


def graph_precision(model: object) -> str:
    """The precision an ONNX graph computes in: the loosest float type it holds.

    Looks at initializers, graph inputs/outputs, value_info and Cast targets; a graph with
    quantisation operators counts as "int8". A graph with no float tensors is "float32".

    Args:
        model: an ``onnx.ModelProto``.
    """
    graph = model.graph  # type: ignore[attr-defined]
    seen: set[str] = set()
    for init in graph.initializer:
        if init.data_type in _ONNX_FLOAT_TYPES:
            seen.add(_ONNX_FLOAT_TYPES[init.data_type])
    for vi in list(graph.input) + list(graph.output) + list(graph.value_info):
        elem = vi.type.tensor_type.elem_type
        if elem in _ONNX_FLOAT_TYPES:
            seen.add(_ONNX_FLOAT_TYPES[elem])
    for node in graph.node:
        if node.op_type in _QUANT_OPS:
            seen.add("int8")
        if node.op_type == "Cast":
            for attr in node.attribute:
                if attr.name == "to" and attr.i in _ONNX_FLOAT_TYPES:
                    seen.add(_ONNX_FLOAT_TYPES[attr.i])
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value" and attr.t.data_type in _ONNX_FLOAT_TYPES:
                    seen.add(_ONNX_FLOAT_TYPES[attr.t.data_type])
    return loosest(seen) if seen else "float32"


def _to_numpy_dtype(dtype: object) -> np.dtype | None:
    try:
        return np.dtype(dtype)  # type: ignore[call-overload]
    except TypeError:
        return None

"""Writing MindIR from the canonical ONNX graph so that MindSpore 2.x loads and runs it.

The writer emits MindSpore's own encodings (primitive kinds, operand order, constant
types), as read from files MindSpore itself wrote (tests/data/mindir_ops). It leaves out
the side-effect plumbing (Load/UpdateState/Depend), which MindSpore does not need for an
inference graph. Each ONNX op maps to MindSpore primitives through a rule in
:mod:`engine.formats.mindir.export_ops`.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from engine import __version__
from engine.errors import EngineError, FormatError, UnsupportedOpError
from engine.fileio import atomic_path
from engine.formats._proto import dstudio_mind_ir_pb2 as pb
from engine.formats.mindir.fold import fold_for_export
from engine.formats.mindir.values import mindir_dtype
from engine.formats.protowire import encode_varint
from engine.jobs import Job
from engine.model import Model, copy_without_weights

AttrType = pb.AttributeProto.AttributeType
PRIMITIVE, FUNCTION = pb.PrimitiveProto.PRIMITIVE, pb.PrimitiveProto.PRIMITIVE_FUNCTION
# Length-delimited field keys (number << 3 | 2) of proto/dstudio_mind_ir.proto:
# ModelProto.graph = 7, GraphProto.parameter = 3, TensorProto.raw_data = 9.
_GRAPH_KEY, _PARAMETER_KEY, _RAW_DATA_KEY = (7 << 3) | 2, (3 << 3) | 2, (9 << 3) | 2


def encode(attr: pb.AttributeProto, value: Any) -> pb.AttributeProto:
    """Fill ``attr`` with ``value`` the way MindSpore encodes constants and attributes."""
    if isinstance(value, (bool, np.bool_)):
        attr.type, attr.i = AttrType.BOOL, int(value)
    elif isinstance(value, (int, np.integer)):
        attr.type, attr.i = AttrType.INT64, int(value)
    elif isinstance(value, (float, np.floating)):
        attr.type, attr.f = AttrType.FLOAT, float(value)
    elif isinstance(value, str):
        attr.type, attr.s = AttrType.STRING, value.encode()
    elif isinstance(value, (tuple, list)):
        attr.type = AttrType.TUPLE if isinstance(value, tuple) else AttrType.LIST
        for item in value:
            element = attr.values.add()
            # Inside sequences MindSpore uses the repeated fields (ints, floats, strings).
            if isinstance(item, (int, np.integer)) and not isinstance(item, (bool, np.bool_)):
                element.type = AttrType.INT64
                element.ints.append(int(item))
            elif isinstance(item, (float, np.floating)):
                element.type = AttrType.FLOAT
                element.floats.append(float(item))
            elif isinstance(item, str):
                element.type = AttrType.STRING
                element.strings.append(item.encode())
            else:
                encode(element, item)
    elif isinstance(value, np.ndarray):
        attr.type = AttrType.TENSORS
        tensor = attr.tensors.add()
        tensor.name = "value0"
        tensor.dims.extend(value.shape)
        tensor.data_type = mindir_dtype(value.dtype)
        tensor.raw_data = np.ascontiguousarray(value).tobytes()
    else:
        raise TypeError(f"cannot encode {type(value).__name__} as a MindIR value")
    return attr


class MindIRBuilder:
    """Accumulates primitives, constants, parameters and CNodes of one MindIR graph."""

    def __init__(self, graph_name: str) -> None:
        self.graph_name = graph_name
        #: when set (a binary file), parameters go there as encoded ``GraphProto.parameter`` fields
        #: instead of into :attr:`proto`, so their bytes are held once, one at a time
        self.spill: Any = None
        self.proto = pb.ModelProto(
            ir_version="1.1", producer_name="MindSpore", producer_version="", model_version="2.10.0",
            little_endian=True, mind_ir_version=3,
        )
        self.proto.doc_string = f"written by deploy-studio {__version__}"
        self.graph = self.proto.graph
        self.graph.name = graph_name
        self._counter = 0
        self._prims: dict[tuple, str] = {}
        self._consts: dict[tuple, str] = {}
        self.parameters: dict[str, str] = {}
        self.nodes: dict[str, pb.NodeProto] = {}

    def _next(self) -> int:
        self._counter += 1
        return self._counter

    def primitive(self, op_type: str, attrs: dict[str, Any] | None = None, *, function: bool = True) -> str:
        attrs = attrs or {}
        key = (op_type, function, repr(sorted(attrs.items())))
        if key in self._prims:
            return self._prims[key]
        prim = self.proto.primitives.add(name=f"{op_type}:{self._next()}", op_type=op_type, instance_name="",
                                         prim_type=FUNCTION if function else PRIMITIVE)
        for name, value in attrs.items():
            encode(prim.attribute.add(name=name), value)
        self._prims[key] = prim.name
        return prim.name

    def constant(self, value: Any) -> str:
        array_key = value.tobytes() + value.dtype.str.encode() + str(value.shape).encode() if isinstance(value, np.ndarray) else None
        key = ("a", array_key) if array_key is not None else ("v", type(value).__name__, repr(value))
        if key in self._consts:
            return self._consts[key]
        name = f"ValueNode_{self._next()}"
        node = self.graph.node.add(output=[name], name=name, op_type="Constant")
        encode(node.attribute.add(name="value"), value)
        self._consts[key] = name
        return name

    def parameter(self, name: str, array: np.ndarray) -> str:
        if name in self.parameters:
            return self.parameters[name]
        full = f"{self.graph_name}:{name}"
        if self.spill is not None:
            self._spill_parameter(full, name, np.ascontiguousarray(array))
        else:
            tensor = self.graph.parameter.add(name=full, data_type=mindir_dtype(array.dtype), ref_key=name)
            tensor.dims.extend(array.shape)
            tensor.raw_data = np.ascontiguousarray(array).tobytes()
        self.parameters[name] = full
        return full

    def _spill_parameter(self, full: str, name: str, array: np.ndarray) -> None:
        tensor = pb.TensorProto(name=full, data_type=mindir_dtype(array.dtype), ref_key=name)
        tensor.dims.extend(array.shape)
        head = tensor.SerializeToString() + encode_varint(_RAW_DATA_KEY) + encode_varint(array.nbytes)
        self.spill.write(encode_varint(_PARAMETER_KEY) + encode_varint(len(head) + array.nbytes) + head)
        self.spill.write(array.reshape(-1).view(np.uint8).data)  # the array's own bytes, no copy

    def write_streamed(self, out: Any) -> None:
        """Write the model to ``out`` with the spilled parameters spliced into the graph field."""
        graph = self.graph.SerializeToString()
        self.proto.ClearField("graph")
        head = self.proto.SerializeToString()
        spilled = self.spill.seek(0, 2)
        size = len(graph) + spilled
        if len(head) + 1 + len(encode_varint(size)) + size >= 2**31:
            raise OverflowError("over 2 GB")
        out.write(head + encode_varint(_GRAPH_KEY) + encode_varint(size) + graph)
        self.spill.seek(0)
        shutil.copyfileobj(self.spill, out, 1 << 20)

    def input(self, name: str, dims: list[int], dtype: np.dtype) -> str:
        full = f"{self.graph_name}:{name}"
        value = self.graph.input.add(name=full)
        value.tensor.add(dims=dims, data_type=mindir_dtype(dtype))
        return full

    def cnode(self, prim: str, inputs: list[str], *, scope: str, label: str = "CNode") -> str:
        out = f"{self.graph_name}:{label}_{self._next()}"
        node = self.graph.node.add(input=inputs, output=[out], name=out, op_type=f"REF::{prim}", domain=scope)
        self.nodes[out] = node
        return out

    def annotate(self, value: str, dims: list[int], dtype: np.dtype) -> None:
        """Record a CNode's output type in its "shape" attribute, as MindSpore does (readers use it)."""
        node = self.nodes.get(value)
        if node is None or any(a.name == "shape" for a in node.attribute):
            return
        attr = node.attribute.add(name="shape", type=AttrType.TENSORS)
        attr.tensors.add(dims=dims, data_type=mindir_dtype(dtype))

    def output(self, value: str, dims: list[int], dtype: np.dtype) -> None:
        out = self.graph.output.add(name=value)
        out.tensor.add(dims=dims, data_type=mindir_dtype(dtype))


class ExportContext:
    """What a MindIR export rule sees of one ONNX node."""

    def __init__(self, writer: MindIRWriter, node: onnx.NodeProto) -> None:
        self.w = writer
        self.node = node
        self.scope = node.name or node.op_type
        self.attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}

    def attr(self, name: str, default: Any = None) -> Any:
        value = self.attrs.get(name, default)
        return value.decode() if isinstance(value, bytes) else value

    def has_input(self, i: int) -> bool:
        return i < len(self.node.input) and self.node.input[i] != ""

    def const(self, i: int) -> np.ndarray:
        """Input ``i`` as a compile-time array (initializer or Constant node output)."""
        name = self.node.input[i]
        if name in self.w.consts:
            return self.w.consts[name]
        raise self.fail(f"input {i} ({name}) must be a constant for MindIR export")

    def is_const(self, i: int) -> bool:
        return self.has_input(i) and self.node.input[i] in self.w.consts

    def tensor(self, i: int) -> str:
        """Input ``i`` as a MindIR value: a computed value, a parameter, or a tensor constant."""
        name = self.node.input[i]
        if name in self.w.values:
            return self.w.values[name]
        if name in self.w.consts:
            array = self.w.consts[name]
            if name in self.w.param_names or (array.size > 1 and array.dtype.kind == "f"):
                return self.w.builder.parameter(name, array)
            return self.w.builder.constant(array)
        raise self.fail(f"input {name!r} is not defined")

    def shape(self, name_or_index: str | int) -> list[int] | None:
        name = self.node.input[name_or_index] if isinstance(name_or_index, int) else name_or_index
        if name in self.w.consts:
            return self.w.consts.dims(name)
        return self.w.shapes.get(name)

    def dtype(self, i: int) -> np.dtype | None:
        name = self.node.input[i]
        if name in self.w.consts:
            return self.w.consts.dtype(name)
        return self.w.dtypes.get(name)

    def call(self, op_type: str, inputs: list[str | Any], *, attrs: dict[str, Any] | None = None,
             function: bool = True, typed: bool = False) -> str:
        """Emit a CNode; non-string operands become Constant nodes.

        ``typed`` records the ONNX node's first output type on this CNode too (for
        intermediate CNodes whose output has the final shape, e.g. Conv2D before BiasAdd).
        """
        prim = self.w.builder.primitive(op_type, attrs, function=function)
        names = [x if isinstance(x, str) else self.w.builder.constant(x) for x in inputs]
        value = self.w.builder.cnode(prim, names, scope=self.scope)
        if typed:
            self.w.annotate(value, self.node.output[0])
        return value

    def item(self, value: str, index: int) -> str:
        return self.call("TupleGetItem", [value, int(index)], function=False)

    def make_tuple(self, values: list[str]) -> str:
        return self.call("MakeTuple", values, function=False)

    def fail(self, message: str) -> UnsupportedOpError:
        return UnsupportedOpError(f"ONNX {self.node.op_type} cannot be written as MindIR: {message}",
                                  path=self.w.src, node=self.scope)


ExportRule = Callable[[ExportContext], "str | list[str] | None"]
EXPORT_OPS: dict[str, ExportRule] = {}


#: No tensor of a converted graph may state more elements than this (2^31: 8 GiB of float32).
TENSOR_ELEMENTS_LIMIT = 1 << 31
#: Operators whose rules spell them out with index, mask or padding constants as large as their
#: tensors: MaxPool's Indices and MaxUnpool, Attention's masks, ReverseSequence,
#: ScatterElements, LRN's windows and the integer convolutions.
SHAPED_CONSTANT_OPS = frozenset({"MaxUnpool", "Attention", "ReverseSequence", "ScatterElements", "LRN",
                                 "ConvInteger", "QLinearConv", "MatMulInteger", "QLinearMatMul"})
#: ... and they stop at this many elements (2^24: 128 MiB of int64 indices).
SHAPED_CONSTANT_LIMIT = 1 << 24
#: LSTM/GRU/RNN are unrolled over the static sequence: at most this many steps.
UNROLL_LIMIT = 4096


def exports(*names: str) -> Callable[[ExportRule], ExportRule]:
    """Register a MindIR export rule for one or more ONNX op types."""

    def deco(fn: ExportRule) -> ExportRule:
        for name in names:
            EXPORT_OPS[name] = fn
        return fn

    return deco


class _Constants(dict):
    """Compile-time values by tensor name: the model's initializers, decoded on first use,
    plus the values export rules fold (``Shape`` of a static tensor, ``Constant`` nodes)."""

    def __init__(self, initializers) -> None:
        super().__init__()
        self._tensors = {t.name: t for t in initializers}

    def __contains__(self, name: object) -> bool:
        return dict.__contains__(self, name) or name in self._tensors

    def __missing__(self, name: str) -> np.ndarray:
        value = numpy_helper.to_array(self._tensors[name])
        if value.nbytes <= _CACHE_BYTES:  # weights are decoded again when read again: held once
            self[name] = value
        return value

    def dims(self, name: str) -> list[int]:
        """The shape of constant ``name``, from its header when it is an initializer not yet decoded."""
        if dict.__contains__(self, name):
            return list(self[name].shape)
        return list(self._tensors[name].dims) if name in self._tensors else list(self[name].shape)

    def dtype(self, name: str) -> np.dtype:
        """The dtype of constant ``name``, from its header when that names a plain numpy type."""
        tensor = None if dict.__contains__(self, name) else self._tensors.get(name)
        if tensor is not None and tensor.data_type in _PLAIN_TYPES:
            return onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type)
        return self[name].dtype


_CACHE_BYTES = 1 << 16
_PLAIN_TYPES = {getattr(onnx.TensorProto, n) for n in ("FLOAT", "DOUBLE", "FLOAT16", "BOOL", "INT8", "INT16", "INT32",
                                                        "INT64", "UINT8", "UINT16", "UINT32", "UINT64")}


# Ops that only pass bfloat16 values along or convert them, which MindSpore's CPU kernels do natively.
_BF16_AS_IS = {"Cast", "CastLike", "Constant", "Shape", "Size", "Identity"}


class MindIRWriter:
    """Drives the export of one canonical ONNX model."""

    def __init__(self, model: Model, path: Path) -> None:
        self.model = model
        self.path = path
        #: the file errors name: what is wrong is in the input graph, not at the output path
        self.src = model.source_path or path
        proto = model.require_graph()
        folded = fold_for_export(proto)  # functions inlined, shape arithmetic -> constants; weights stay in ``proto``
        if any(o.domain not in ("", "ai.onnx") for o in folded.model.opset_import if o.version):
            custom = [o.domain for o in folded.model.opset_import if o.domain not in ("", "ai.onnx")]
            raise FormatError(f"custom op domains {custom} cannot be written as MindIR", path=self.src)
        try:
            # Types and shapes only: the weights stay in ``proto`` and are read one at a time.
            self.onnx = onnx.shape_inference.infer_shapes(copy_without_weights(folded.model, keep_elements=64), data_prop=True)
        except Exception as exc:
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise FormatError(f"shape inference failed, so MindIR cannot be written: {message}", path=self.src) from exc
        graph = self.onnx.graph
        self.consts = _Constants(folded.initializers)
        raw = model.metadata.get("parameters")
        self.param_names: set[str] = set(json.loads(raw)) if raw else set()
        self.values: dict[str, str] = {}
        self.shapes: dict[str, list[int]] = {}
        self.dtypes: dict[str, np.dtype] = {}
        for value in list(graph.value_info) + list(graph.input) + list(graph.output):
            t = value.type.tensor_type
            if t.elem_type:
                self.dtypes[value.name] = onnx.helper.tensor_dtype_to_np_dtype(t.elem_type)
            if t.HasField("shape") and all(d.HasField("dim_value") for d in t.shape.dim):
                self.shapes[value.name] = [d.dim_value for d in t.shape.dim]
        self.builder = MindIRBuilder(re.sub(r"[^A-Za-z0-9_]", "_", graph.name or "main") or "main")

    def annotate(self, value: str, onnx_name: str) -> None:
        dims, dtype = self.shapes.get(onnx_name), self.dtypes.get(onnx_name)
        if dims is not None and dtype is not None:
            self.builder.annotate(value, dims, dtype)

    def _check_io(self, value: onnx.ValueInfoProto, what: str) -> np.dtype:
        """The numpy dtype of a graph input/output, refused in one line when MindIR has none."""
        kind = value.type.WhichOneof("value")
        if kind != "tensor_type":
            raise UnsupportedOpError(f"graph {what} {value.name!r} is a {kind or 'untyped value'}, "
                                     "which MindIR graphs cannot take", path=self.src)
        elem = value.type.tensor_type.elem_type
        name = onnx.TensorProto.DataType.Name(elem) if elem in onnx.TensorProto.DataType.values() else str(elem)
        try:
            dtype = onnx.helper.tensor_dtype_to_np_dtype(elem)
            mindir_dtype(dtype)
        except (ValueError, KeyError, TypeError):
            raise UnsupportedOpError(f"graph {what} {value.name!r} has dtype {name}, which MindIR has no type for",
                                     path=self.src) from None
        return dtype

    def _check_sizes(self, node: onnx.NodeProto) -> None:
        """Refuse, before any rule allocates, a node whose stated tensors are too large for its rule.

        A stated shape is only a claim of the file (a corrupt or hostile one asked for 16 GiB of
        index constants): any tensor over :data:`TENSOR_ELEMENTS_LIMIT` elements is refused; the
        operators spelled out with constants as large as their tensors (:data:`SHAPED_CONSTANT_OPS`)
        stop at :data:`SHAPED_CONSTANT_LIMIT`; a recurrent op is unrolled, one step per element
        of its sequence, up to :data:`UNROLL_LIMIT` steps.
        """
        largest = 0
        for name in list(node.input) + list(node.output):
            dims = self.shapes.get(name) if name and name not in self.consts else None
            if dims and all(d > 0 for d in dims):
                largest = max(largest, int(np.prod(dims, dtype=np.float64)))
        shaped = node.op_type in SHAPED_CONSTANT_OPS or (node.op_type == "MaxPool" and len(node.output) > 1
                                                         and bool(node.output[1]))  # its Indices output
        if shaped and node.op_type in ("MaxPool", "MaxUnpool", "ConvInteger", "QLinearConv"):
            # their index constants hold one entry per output position and kernel position
            kernel = next((list(a.ints) for a in node.attribute if a.name == "kernel_shape"), None)
            weight = self.shapes.get(node.input[3 if node.op_type == "QLinearConv" else 1]) if len(node.input) > 1 else None
            kernel = kernel or (weight[2:] if weight else [])
            largest *= max(int(np.prod(kernel, dtype=np.float64)), 1)
        limit = SHAPED_CONSTANT_LIMIT if shaped else TENSOR_ELEMENTS_LIMIT
        if largest > limit:
            what = (f"its MindIR form builds constants of {largest:,} entries for these shapes" if shaped
                    else f"a tensor of {largest:,} elements, past what is converted")
            raise UnsupportedOpError(f"ONNX {node.op_type}: {what} (at most {limit:,})", path=self.src, node=node.name)
        if node.op_type in ("LSTM", "GRU", "RNN"):
            dims = self.shapes.get(node.input[0]) or []
            layout = next((a.i for a in node.attribute if a.name == "layout"), 0)
            steps = dims[1 if layout else 0] if len(dims) == 3 else 0
            if steps > UNROLL_LIMIT:
                raise UnsupportedOpError(f"ONNX {node.op_type} over {steps:,} steps: it is unrolled one step at a "
                                         f"time (at most {UNROLL_LIMIT:,})", path=self.src, node=node.name)

    def _apply(self, rule: ExportRule, node: onnx.NodeProto):
        """Run one export rule; any error names the input file and the node."""
        try:
            return rule(ExportContext(self, node))
        except EngineError as exc:
            exc.path = exc.path or Path(self.src)
            exc.node = exc.node or node.name or node.op_type
            raise
        except (ValueError, TypeError, KeyError, IndexError, ZeroDivisionError, OverflowError, AttributeError) as exc:
            # A rule met a graph it does not expect; the CLI must still get one typed line.
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise UnsupportedOpError(f"ONNX {node.op_type} cannot be written as MindIR: {type(exc).__name__} {message}",
                                     path=self.src, node=node.name or node.op_type) from exc

    def _dtype_of(self, name: str) -> np.dtype | None:
        return self.consts.dtype(name) if name in self.consts else self.dtypes.get(name)

    def _computes_in_bf16(self, node: onnx.NodeProto) -> bool:
        if node.op_type in _BF16_AS_IS:
            return False
        return any(n and getattr(self._dtype_of(n), "name", "") == "bfloat16" for n in list(node.input) + list(node.output))

    def _apply_in_float32(self, rule: ExportRule, node: onnx.NodeProto) -> list:
        """A bfloat16 node computed in float32 and rounded back, as ONNX Runtime does: MindSpore's CPU
        kernels mostly lack bfloat16, and float32 holds every bfloat16 value exactly."""
        from engine.formats.mindir.values import TYPE_IDS

        ctx = ExportContext(self, node)
        f32 = np.dtype(np.float32)
        renamed = onnx.NodeProto()
        renamed.CopyFrom(node)
        for i, name in enumerate(node.input):
            if not name or getattr(self._dtype_of(name), "name", "") != "bfloat16":
                continue
            tmp = f"{name}__as_float32"
            if name in self.consts:
                self.consts[tmp] = self.consts[name].astype(np.float32)
            else:
                self.values[tmp] = ctx.call("Cast", [self.values[name], TYPE_IDS["float32"]])
                self.dtypes[tmp] = f32
                if name in self.shapes:
                    self.shapes[tmp] = self.shapes[name]
            renamed.input[i] = tmp
        bf16_outputs = set()
        for k, name in enumerate(node.output):
            if name and getattr(self.dtypes.get(name), "name", "") == "bfloat16":
                tmp = f"{name}__as_float32"
                self.dtypes[tmp] = f32
                if name in self.shapes:
                    self.shapes[tmp] = self.shapes[name]
                renamed.output[k] = tmp
                bf16_outputs.add(k)
        result = self._apply(rule, renamed)
        if result is None:
            return None
        outs = list(result) if isinstance(result, list) else [result]
        for k in bf16_outputs:
            if k >= len(outs) or outs[k] is None:
                continue
            if isinstance(outs[k], np.ndarray):
                outs[k] = outs[k].astype(self.dtypes[node.output[k]])
            else:
                outs[k] = ctx.call("Cast", [outs[k], TYPE_IDS["bfloat16"]])
        return outs

    def run(self, job: Job) -> bytes:
        """Export the graph and return the MindIR file's bytes (parameters included)."""
        if self.builder.spill is not None:
            raise RuntimeError("run() with spilled parameters; save() writes those")
        self.build(job)
        return self.builder.proto.SerializeToString()

    def build(self, job: Job) -> None:
        """Export the graph into :attr:`builder` (parameters into its spill file when it has one)."""
        from engine.formats.mindir import export_ops  # noqa: F401  (registration)

        graph = self.onnx.graph
        for value in graph.input:
            if value.name in self.consts:
                continue
            dtype = self._check_io(value, "input")
            dims = self.shapes.get(value.name)
            if dims is None:
                raise FormatError(f"input {value.name!r} has dynamic dims; fix them first (dstudio optimize --passes fix_shapes)",
                                  path=self.src)
            self.values[value.name] = self.builder.input(value.name, dims, dtype)
        out_dtypes = {out.name: self._check_io(out, "output") for out in graph.output}
        total = max(len(graph.node), 1)
        for index, node in enumerate(graph.node):
            if index % 64 == 0:
                job.report(index / total, f"writing {node.op_type}")
            if node.domain not in ("", "ai.onnx"):
                raise UnsupportedOpError(f"custom op {node.domain}::{node.op_type} cannot be written as MindIR",
                                         path=self.src, node=node.name)
            rule = EXPORT_OPS.get(node.op_type)
            if rule is None:
                raise UnsupportedOpError(f"ONNX op {node.op_type!r} has no MindIR rule yet", path=self.src, node=node.name)
            self._check_sizes(node)
            result = self._apply_in_float32(rule, node) if self._computes_in_bf16(node) else self._apply(rule, node)
            if result is None:
                continue
            outs = result if isinstance(result, list) else [result]
            for name, value in zip(node.output, outs):
                if isinstance(value, np.ndarray):
                    self.consts[name] = value
                elif value is not None:
                    self.values[name] = value
                    self.annotate(value, name)
        for out in graph.output:
            if out.name in self.values:
                value = self.values[out.name]
            elif out.name in self.consts:
                node = onnx.helper.make_node("Identity", [out.name], [out.name])
                value = self._apply(lambda ctx: ctx.call("Identity", [ctx.w.builder.constant(ctx.w.consts[out.name])]), node)
            else:
                raise FormatError(f"graph output {out.name!r} is never computed", path=self.src)
            dims = self.shapes.get(out.name) or []
            self.builder.output(value, dims, out_dtypes[out.name])


def _check_readable(proto: pb.ModelProto, model: Model, path: Path) -> None:
    """Refuse, before writing, a MindIR our reader would refuse (what the file cannot say).

    Declared shapes come from ONNX shape inference, which can infer dims no tensor has
    (a negative width from a corrupt kernel size); the input carries the problem, so the
    error names the input.
    """
    from engine.formats.mindir.sanity import check_model

    try:
        check_model(proto, path)
    except FormatError as exc:
        raise FormatError(f"cannot write a MindIR that reads back: {exc.message}", path=model.source_path or path,
                          node=exc.node, hint=f"nothing written to {path.name}") from None


def save(model: Model, path: Path, job: Job) -> None:
    """Write ``model`` as MindIR at ``path`` (temporary file, then rename).

    Each parameter's bytes go to a spill file beside ``path`` as soon as a rule makes the
    tensor a parameter, and are spliced into the graph field at the end: the weights are
    never held twice (decoded, then again in the message and its serialisation).

    Raises:
        UnsupportedOpError: one line naming every blocking op (count, first node, reason).
        FormatError: the file would pass protobuf's 2 GB limit.
    """
    path = Path(path)
    writer = MindIRWriter(model, path)
    with tempfile.TemporaryFile(dir=path.parent) as spill:
        writer.builder.spill = spill
        try:
            writer.build(job)
        except UnsupportedOpError as exc:
            from engine.formats.mindir.blockers import every_blocker

            widened = every_blocker(exc, model, path)
            if widened is exc:
                raise
            raise widened from exc
        _check_readable(writer.builder.proto, model, path)
        try:
            with atomic_path(path) as tmp, tmp.open("wb") as out:
                writer.builder.write_streamed(out)
        except OverflowError:
            raise FormatError("MindIR over 2 GB needs external weights, which the writer does not do yet", path=path) from None

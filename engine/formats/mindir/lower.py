"""Lowering a decoded MindIR graph to the canonical ONNX graph, one op-table rule per primitive.

The driver walks MindSpore's CNodes in file order (already topological), resolves the
side-effect plumbing itself (Load, UpdateState, Depend, MakeTuple, TupleGetItem) and hands
every compute primitive to the rule registered for its name in :data:`OPS`. A rule sees a
:class:`NodeContext` and returns the lowered value: an ONNX tensor name, or a tuple of them
for primitives with several outputs. A new primitive is one ``@op("Name")`` function.
"""

from __future__ import annotations

import json
import logging
import re
from collections import ChainMap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from engine.errors import EngineError, FormatError, UnsupportedOpError
from engine.formats.mindir.reader import MindGraph, MindNode
from engine.formats.mindir.values import Monad, numpy_dtype
from engine.jobs import Job
from engine.model import UnloweredNode

log = logging.getLogger(__name__)

OPSET = 17
#: A filled tensor (OnesLike, a loop's placeholder) with at most this many elements is an
#: initializer; a larger one is ConstantOfShape (see ``Lowering.filled``).
FILL_INLINE_ELEMENTS = 4096


@dataclass(frozen=True)
class Const:
    """A compile-time value (MindIR Constant node) that has not been turned into a tensor yet."""

    value: Any


@dataclass(frozen=True)
class Unknown:
    """The output of a node that could not be lowered (or that reads one): lowering goes on past it.

    ``origin`` names the node that failed, so that nodes reading this value are marked as
    skipped because of it rather than reported as failures of their own.
    """

    origin: str
    dims: tuple | None = None
    data_type: int = 0


Value = Union[str, Const, tuple, Monad, Unknown, None]
Rule = Callable[["NodeContext"], Value]
OPS: dict[str, Rule] = {}


def op(*names: str) -> Callable[[Rule], Rule]:
    """Register a lowering rule for one or more MindSpore primitive names."""

    def deco(fn: Rule) -> Rule:
        for name in names:
            if name in OPS:
                raise ValueError(f"primitive {name} has two lowering rules")
            OPS[name] = fn
        return fn

    return deco


def supported_primitives() -> list[str]:
    """Every primitive name the converter lowers (plumbing included)."""
    _load_rules()
    return sorted(set(OPS) | set(PLUMBING))


class Lowering:
    """State of one MindIR -> ONNX lowering: emitted nodes, initializers, value map."""

    def __init__(self, graph: MindGraph, path: Path) -> None:
        self.graph = graph
        self.path = path
        self.nodes: list[onnx.NodeProto] = []
        # Built in place: make_graph/make_model would copy every weight twice more.
        self.model = onnx.ModelProto()
        self.initializers = self.model.graph.initializer
        # A ChainMap: control flow inlines a graph in a child scope that sees the outer values.
        self.values: ChainMap[str, Any] = ChainMap()
        self.types: dict[str, tuple[list[int] | None, np.dtype | None]] = {}
        self._used: set[str] = set()
        self._const_cache: dict[tuple, str] = {}
        #: nodes that could not be lowered, in file order
        self.failures: list[UnloweredNode] = []
        #: node name -> (status "ok"/"failed"/"skipped", ONNX op types emitted, reason)
        self.node_report: dict[str, tuple[str, list[str], str]] = {}
        #: graph inputs and outputs as TensorSpecs (filled by :meth:`run`)
        self.signature: tuple[list, list] = ([], [])
        #: initializer names of the network's parameters (the rest are constants rules made)
        self.param_names: list[str] = []
        #: the ONNX opset the model declares: OPSET unless a rule needs a newer operator form
        self.opset = OPSET

    def require_opset(self, version: int, why: str) -> None:
        """Declare that an emitted node needs ``version``; the whole model is raised to it at the end."""
        if version > self.opset:
            log.debug("lowering needs opset %d: %s", version, why)
            self.opset = version

    # naming -----------------------------------------------------------------------
    def unique(self, hint: str) -> str:
        base = re.sub(r"\s+", "_", hint) or "t"
        name, i = base, 1
        while name in self._used:
            i += 1
            name = f"{base}_{i}"
        self._used.add(name)
        return name

    # graph building ------------------------------------------------------------------
    def add_initializer(self, array: np.ndarray, hint: str, *, exact: bool = False) -> str:
        name = hint if exact else self.unique(hint)
        if exact:
            self._used.add(name)
        # np.ascontiguousarray would make a 0-d array 1-d: scalars must stay scalars.
        array = array if array.flags.c_contiguous else np.array(array, order="C")
        self.initializers.add().CopyFrom(numpy_helper.from_array(array, name))
        self.types[name] = (list(array.shape), array.dtype)
        return name

    def const_tensor(self, value: Any, dtype: np.dtype | None = None, hint: str = "const") -> str:
        array = np.asarray(value, dtype=dtype)
        if array.dtype == np.float64 and dtype is None and not isinstance(value, np.ndarray):
            # A MindIR float scalar (or tuple of them) is float32; a float64 tensor stays float64.
            array = array.astype(np.float32)
        key = (array.dtype.str, array.shape, array.tobytes()) if array.size <= 64 else None
        if key is not None and key in self._const_cache:
            return self._const_cache[key]
        name = self.add_initializer(array, hint)
        if key is not None:
            self._const_cache[key] = name
        return name

    def filled(self, dims: list[int], dtype: Any, value: float, hint: str) -> str:
        """A tensor of ``dims`` filled with ``value``: an initializer when small, else
        ``ConstantOfShape`` of a constant shape, so a large shape (a stated input of a billion
        elements, even) never becomes a tensor in memory or in the file."""
        dtype = np.dtype(dtype)
        if int(np.prod(dims, dtype=np.float64)) <= FILL_INLINE_ELEMENTS:
            return self.const_tensor(np.full(dims, value, dtype), hint=hint)
        shape = self.const_tensor(np.array(dims, np.int64), hint=f"{hint}_shape")
        out = self.emit("ConstantOfShape", [shape], name=hint,
                        value=numpy_helper.from_array(np.full(1, value, dtype), "value"))
        self.types[out] = (list(dims), dtype)
        return out

    def int_vector(self, items: tuple, hint: str) -> str:
        """A tuple of integers, some computed at run time (dims of a dynamic shape), as a 1-d int64 tensor.

        MindSpore passes shapes as tuples of scalars (``MakeTuple(TupleGetItem(Shape(x), 0), 8)``);
        ONNX wants one tensor: constant runs become initializers, scalars are unsqueezed, all concatenated.
        """
        if all(isinstance(v, Const) for v in items):
            return self.const_tensor(np.array([int(v.value) for v in items], np.int64), hint=hint)
        parts: list[str] = []
        axes = self.const_tensor(np.array([0], np.int64), hint="axes0")
        for k, item in enumerate(items):
            if isinstance(item, Const):
                parts.append(self.const_tensor(np.array([int(item.value)], np.int64), hint=f"{hint}_{k}"))
                continue
            dims, dtype = self.types.get(item, (None, None))
            if dtype is not None and np.dtype(dtype) != np.int64:
                item = self.emit("Cast", [item], name=f"{hint}/Cast{k}", to=TensorProto.INT64)
            if dims is not None and len(dims) == 0:
                item = self.emit("Unsqueeze", [item, axes], name=f"{hint}/Unsqueeze{k}")
            parts.append(item)
        out = self.emit("Concat", parts, name=f"{hint}/Concat", axis=0)
        self.types[out] = ([len(items)], np.dtype(np.int64))
        return out

    def emit(self, op_type: str, inputs: list[str], *, name: str, outputs: int | list[str] = 1, **attrs: Any) -> Any:
        if isinstance(outputs, int):
            out_names = [self.unique(f"{name}:{i}" if outputs > 1 else name) for i in range(outputs)]
        else:
            out_names = [self.unique(o) for o in outputs]
        node = helper.make_node(op_type, inputs, out_names, name=self.unique(name),
                                **{k: v for k, v in attrs.items() if v is not None})
        self.nodes.append(node)
        return out_names[0] if len(out_names) == 1 else tuple(out_names)

    # running -------------------------------------------------------------------------------
    def run(self, job: Job) -> onnx.ModelProto | None:
        """Lower the whole graph; None (with :attr:`failures` listed) when some node cannot be."""
        _load_rules()
        g = self.graph
        inputs = []
        for value in g.inputs:
            name = self.unique(g.short(value.name))
            dtype = numpy_dtype(value.data_type)
            dims = [d if d >= 0 else f"d{i}" if i else "batch" for i, d in enumerate(value.dims)]
            inputs.append(helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(dtype), dims))
            self.values[value.name] = name
            self.types[name] = ([d if d >= 0 else -1 for d in value.dims], dtype)
        param_names = self.param_names
        for full, array in g.parameters.items():
            name = self.add_initializer(array, g.short(full), exact=g.short(full) not in self._used)
            param_names.append(name)
            self.values[full] = name
        for full, (start, end) in g.raw_parameters.items():
            view = memoryview(g.source)[start:end]
            try:
                name = self._raw_initializer(full, view)
            finally:
                view.release()
            _drop_pages(g.source, start, end)
            param_names.append(name)
            self.values[full] = name
        for name, value in g.constants.items():
            self.values[name] = Const(value)
        if g.functions:
            from engine.formats.mindir.control_flow import FuncRef, shared_constants

            for name in g.functions:
                self.values[name] = FuncRef(name)
            self.values.maps.append(shared_constants(g))  # lowest priority: free variables
        total = max(len(g.nodes), 1)
        for index, node in enumerate(g.nodes):
            if index % 64 == 0:
                job.report(index / total, f"lowering {node.op_type}")
            self.values[node.outputs[0]] = self.lower_tracked(node)
        outputs = []
        output_specs = []
        for i, out in enumerate(g.outputs):
            value = self.values.get(out)
            tensors = _flatten(value)
            if not tensors:
                raise FormatError(f"graph output {g.short(out)!r} is not a tensor", path=self.path)
            for j, tensor in enumerate(tensors):
                out_name = "output" if len(g.outputs) == 1 and len(tensors) == 1 else f"output_{i}" + (f"_{j}" if len(tensors) > 1 else "")
                if isinstance(tensor, Unknown):
                    dims = list(tensor.dims) if tensor.dims is not None else None
                    dtype = numpy_dtype(tensor.data_type) if tensor.data_type else None
                    output_specs.append(_spec(out_name, dims, dtype))
                    continue
                tensor = self._as_tensor_name(tensor, f"output_{i}")
                out_name = self.unique(out_name)
                self.nodes.append(helper.make_node("Identity", [tensor], [out_name], name=self.unique(f"Return/{out_name}")))
                dims, dtype = self.types.get(tensor, (None, None))
                output_specs.append(_spec(out_name, dims, dtype))
                elem = helper.np_dtype_to_tensor_dtype(dtype) if dtype is not None else TensorProto.FLOAT
                shape = [d if d >= 0 else None for d in dims] if dims is not None else None
                outputs.append(helper.make_tensor_value_info(out_name, elem, shape))
        from engine.inputs import _value_info_spec

        self.signature = ([_value_info_spec(v) for v in inputs], output_specs)
        if self.failures:
            return None
        model = self.model
        graph = model.graph
        graph.name = _sanitize(g.name)
        if g.functions:
            from engine.formats.mindir.control_flow import prune

            self.nodes = prune(self.nodes)
        graph.node.extend(self.nodes)
        graph.input.extend(inputs)
        graph.output.extend(outputs)
        if self.opset > OPSET:
            raise_opset(model, self.opset)
        model.opset_import.add(domain="", version=self.opset)
        model.producer_name = "deploy-studio"
        model.ir_version = 8
        model.metadata_props.add(key="source_format", value="mindir")
        model.metadata_props.add(key="parameters", value=json.dumps(param_names))
        _fill_output_shapes(model)
        return model

    def _raw_initializer(self, full: str, chunk: memoryview) -> str:
        """Turn one unparsed MindIR parameter into an ONNX initializer with a single copy of its data.

        MindIR's and ONNX's TensorProto share field numbers for dims (1), data_type (2) and
        raw_data (9), and their data-type codes agree for every numeric type, so those fields
        are spliced byte for byte into the ONNX message; only the name moves (7 -> 8).
        """
        from engine.formats import protowire

        short = self.graph.short(full)
        name = self.unique(short)
        try:
            fields = protowire.spans(chunk)
        except ValueError as exc:
            raise FormatError(f"parameter {short!r} is corrupt ({exc})", path=self.path) from None
        if any(f.number == 12 for f in fields):
            raise FormatError(f"parameter {short!r} keeps its data in an external file, which is not supported yet", path=self.path)
        if any(f.number == 16 and f.wire_type == protowire.VARINT and chunk[f.payload] != 0 for f in fields):
            raise FormatError(f"parameter {short!r} is compressed, which is not supported", path=self.path)
        # Decode the small fields through protobuf, leaving out the data.
        from engine.formats.mindir.reader import parse_parameter

        header = parse_parameter(b"".join(chunk[f.start:f.end] for f in fields if f.number != 9), self.path)
        try:
            dtype = numpy_dtype(header.data_type)
        except ValueError as exc:
            raise FormatError(f"parameter {short!r}: {exc}", path=self.path) from None
        dims = [int(d) for d in header.dims]
        expected = int(np.prod(dims)) * dtype.itemsize if dims else dtype.itemsize
        data = [f for f in fields if f.number == 9]
        size = sum(f.end - f.payload for f in data[-1:])
        if size != expected:
            raise FormatError(
                f"parameter {short!r} has {size} data bytes for shape {dims} ({dtype.name}); "
                f"expected {expected} (file truncated or corrupt?)", path=self.path)
        init = self.initializers.add(name=name, dims=dims, data_type=helper.np_dtype_to_tensor_dtype(dtype))
        if data:
            init.MergeFromString(chunk[data[-1].start:data[-1].end])
        self.types[name] = (dims, dtype)
        return name

    def _as_tensor_name(self, value: Value, hint: str) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, Const):
            return self.const_tensor(value.value, hint=hint)
        raise FormatError(f"{hint} is not a tensor", path=self.path)

    def lower_tracked(self, node: MindNode) -> Value:
        """Lower one node, recording the outcome; a node that cannot be lowered yields :class:`Unknown`."""
        where = node.scope or self.graph.short(node.name)
        plumbing = PLUMBING.get(node.op_type)
        if plumbing is None:
            unknown = self._unknown_input(node)
            if unknown is not None and node.op_type in OPS:
                self.node_report[node.name] = ("skipped", [], f"an input comes from {unknown.origin}, which was not lowered")
                return self._unknown_outputs(node, unknown.origin)
            if unknown is not None:  # a primitive without a rule is missing whatever its inputs
                return self._fail(node, self._no_rule(node).message, where)
        first, failed_before = len(self.nodes), len(self.failures)
        try:
            result = self._lower_node(node)
        except (UnsupportedOpError, FormatError) as exc:
            del self.nodes[first:]
            return self._fail(node, exc.message, where)
        except EngineError:
            raise  # cancelled, or another error that is not about this node
        except (ArithmeticError, AttributeError, LookupError, NotImplementedError, RuntimeError, ValueError) as exc:
            # A rule that breaks on an input it did not expect must not make the file unreadable.
            del self.nodes[first:]
            log.warning("lowering %s (%s) failed: %r", node.op_type, where, exc)
            return self._fail(node, f"the converter failed on this node ({type(exc).__name__}: {exc})", where)
        if node.op_type == "Call" and len(self.failures) > failed_before:
            # A call of an exported graph (a branch, a loop) holds what failed: mark it, but the
            # failures inside are already listed.
            inner = "; ".join(f"{f.primitive}: {f.reason}" for f in self.failures[failed_before:])
            self.node_report[node.name] = ("failed", [], f"a node inside this call was not lowered ({inner})")
        elif plumbing is None or node.op_type == "Call":
            self.node_report[node.name] = ("ok", [n.op_type for n in self.nodes[first:]], "")
        return result

    def _fail(self, node: MindNode, reason: str, where: str) -> Value:
        label = node.name.split(":", 1)[1] if ":" in node.name else node.name
        self.failures.append(UnloweredNode(node.op_type, label, node.scope, reason))
        self.node_report[node.name] = ("failed", [], reason)
        return self._unknown_outputs(node, where)

    def _no_rule(self, node: MindNode) -> UnsupportedOpError:
        return UnsupportedOpError(
            f"MindSpore primitive {node.op_type!r} has no ONNX lowering yet",
            path=self.path,
            node=node.scope or self.graph.short(node.name),
            hint="see `dstudio convert --list-ops` for the supported primitives",
        )

    def _unknown_input(self, node: MindNode) -> Unknown | None:
        for name in node.inputs:
            for value in _flatten(self.values.get(name)):
                if isinstance(value, Unknown):
                    return value
        return None

    def _unknown_outputs(self, node: MindNode, origin: str) -> Value:
        types = node.out_types
        if len(types) > 1:
            return tuple(Unknown(origin, tuple(d), t) for d, t in types)
        if types:
            return Unknown(origin, tuple(types[0][0]), types[0][1])
        return Unknown(origin)

    def _lower_node(self, node: MindNode) -> Value:
        plumbing = PLUMBING.get(node.op_type)
        if plumbing is not None:
            try:
                return plumbing(self, node)
            except (ValueError, TypeError, IndexError, KeyError) as exc:
                raise FormatError(f"cannot lower {node.op_type}: {exc}", path=self.path,
                                  node=node.scope or self.graph.short(node.name)) from exc
        rule = OPS.get(node.op_type)
        if rule is None:
            raise self._no_rule(node)
        ctx = NodeContext(self, node)
        try:
            result = rule(ctx)
        except (FormatError, UnsupportedOpError):
            raise
        except (ValueError, TypeError, IndexError, KeyError) as exc:
            raise FormatError(
                f"cannot lower {node.op_type}: {exc}", path=self.path, node=node.scope or self.graph.short(node.name)
            ) from exc
        for tensor, (dims, dtype) in zip(_flatten(result), node.out_types):
            if isinstance(tensor, str) and tensor not in self.types:
                self.types[tensor] = (dims, numpy_dtype(dtype) if dtype else None)
        return result


def _flatten(value: Value) -> list:
    if isinstance(value, tuple):
        out: list = []
        for v in value:
            out.extend(_flatten(v))
        return out
    if value is None or isinstance(value, Monad):
        return []
    return [value]


# Bottom imports: these modules read the names above.
from engine.formats.mindir.node_context import MAX_NODE_OUTPUTS, NodeContext  # noqa: E402,F401 (rules import it from here)
from engine.formats.mindir.lower_output import _drop_pages, _fill_output_shapes, _sanitize, _spec, raise_opset  # noqa: E402
from engine.formats.mindir.plumbing import PLUMBING, _is_int_item  # noqa: E402


@dataclass
class LoweringResult:
    """What lowering a MindIR graph gave.

    Attributes:
        onnx: the ONNX model, or None when some node could not be lowered.
        failures: the nodes that could not be lowered (not those that only read one).
        node_report: MindIR node name -> (status, ONNX op types it became, reason).
        signature: (inputs, outputs) as TensorSpec lists, known even when ``onnx`` is None.
    """

    onnx: onnx.ModelProto | None
    failures: list[UnloweredNode] = field(default_factory=list)
    node_report: dict[str, tuple[str, list[str], str]] = field(default_factory=dict)
    signature: tuple[list, list] = ([], [])
    parameters: Any = None


def lower_all(graph: MindGraph, path: Path, job: Job) -> LoweringResult:
    """Lower as much of a decoded MindIR graph as possible, recording every node that cannot be.

    When some node cannot be lowered, ``parameters`` holds the network's weights (a
    ParameterSet), so the file's parameters can still be listed and saved.
    """
    lowering = Lowering(graph, path)
    model = lowering.run(job)
    result = LoweringResult(model, lowering.failures, lowering.node_report, lowering.signature)
    if model is None:
        from engine.params import ParameterSet

        wanted = set(lowering.param_names)
        result.parameters = ParameterSet(
            (t.name, numpy_helper.to_array(t)) for t in lowering.initializers if t.name in wanted)
    return result


def lower(graph: MindGraph, path: Path, job: Job) -> onnx.ModelProto:
    """Lower a decoded MindIR graph to an ONNX ModelProto (opset :data:`OPSET`).

    Raises:
        UnsupportedOpError: some nodes cannot be lowered; the message names every primitive.
    """
    result = lower_all(graph, path, job)
    if result.onnx is None:
        from engine.model import Model

        Model(source_path=path, unlowered=result.failures).require_graph()
    return result.onnx  # type: ignore[return-value]


_rules_loaded = False


def _load_rules() -> None:
    global _rules_loaded
    if not _rules_loaded:
        _rules_loaded = True
        from engine.formats.mindir import ops_array, ops_math, ops_nn, ops_rnn  # noqa: F401  (registration)
        from engine.formats.mindir import ops_ext  # noqa: F401  (2.x Ext, scalar and in-place primitives)
        from engine.formats.mindir import ops_bits, ops_index  # noqa: F401  (bitwise, shifts, trig; scatter/gather)
        from engine.formats.mindir import control_flow  # noqa: F401  (If/Loop, scalar ops; after the op table)

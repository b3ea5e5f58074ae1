"""Structural checks of an ONNX graph: validity, shapes, target op support and graph hygiene.

Each check returns :class:`Finding` records; nothing here runs the model. The checks:

1. ``checker``: ``onnx.checker`` (the ONNX spec's own validator).
2. ``shape-inference``: ONNX shape inference in strict mode, with type checks.
3. ``unsupported-op``: operators the chosen target has no kernel for (ONNX Runtime: its
   registered kernel table for the execution provider; reference: the evaluator's op list).
4. ``dangling-tensor``: a tensor consumed (or declared as a graph output) but never
   produced by a node, a graph input or an initializer.
5. ``unused-initializer`` / ``unused-input`` / ``dead-node``: weights nobody reads, inputs
   nobody reads, nodes none of whose outputs are used.
6. ``dynamic-dim`` / ``unknown-dim`` / ``unknown-shape``: inputs whose size is not fixed.
"""

from __future__ import annotations

from engine.model import approx_size  # noqa: E402

import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import onnx

from engine.model import Model

log = logging.getLogger(__name__)

SEVERITIES = ("error", "warning", "info")
PROTO_LIMIT = 2**31 - 1

# Target device -> ONNX Runtime execution provider whose kernel table is checked.
_ORT_PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "gpu": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "dml": "DmlExecutionProvider",
    "directml": "DmlExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "rocm": "ROCMExecutionProvider",
}

_ORT_GRAPH_LEVEL_OPS = ("Constant",)
# ONNX Runtime's CPU provider wraps float16 nodes it has no kernel for in Casts to float.
FP16_FALLBACK = "fp16-fallback"
_TYPE_NAMES = {1: "float", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64", 8: "string",
               9: "bool", 10: "float16", 11: "double", 12: "uint32", 13: "uint64", 16: "bfloat16"}


@dataclass(frozen=True)
class Finding:
    """One thing a structural check noticed.

    Attributes:
        severity: "error" (will not run or is invalid), "warning" (runs, but wasteful or
            risky), "info" (worth knowing).
        code: short stable identifier ("dangling-tensor", "unused-initializer", ...).
        message: one line a person can act on.
        node: the node involved, if any.
        tensor: the tensor involved, if any.
    """

    severity: str
    code: str
    message: str
    node: str | None = None
    tensor: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        where = f" [node {self.node}]" if self.node else ""
        return f"{self.severity}: {self.code}: {self.message}{where}"


def check_structure(model: Model, target: str | None = None) -> list[Finding]:
    """Run every structural check on ``model``'s canonical ONNX graph.

    Args:
        model: the model; its ``.onnx`` graph is checked.
        target: a target name ("onnxruntime:cpu", "reference", ...) whose op support is
            checked too; None skips that check.

    Returns:
        Findings, errors first.

    Raises:
        FormatError: the model holds no graph.
    """
    proto = model.require_graph()
    findings: list[Finding] = []
    findings += check_validity(proto)
    findings += check_hygiene(proto)
    findings += check_dynamic_inputs(proto)
    if target:
        findings += check_target_support(model, target)
    return sorted(findings, key=lambda f: SEVERITIES.index(f.severity))


def check_validity(proto: onnx.ModelProto) -> list[Finding]:
    """``onnx.checker`` and strict shape inference (together, ``full_check=True``)."""
    if approx_size(proto) > PROTO_LIMIT:
        return [Finding("info", "checker", "model is over 2 GiB in memory; checker and shape inference skipped")]
    try:
        onnx.checker.check_model(proto, full_check=False)
    except onnx.checker.ValidationError as exc:
        return [Finding("error", "checker", _first_line(exc), node=_node_in(exc))]
    try:
        onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True, data_prop=True)
    except onnx.shape_inference.InferenceError as exc:
        return [Finding("error", "shape-inference", _first_line(exc), node=_node_in(exc))]
    except Exception as exc:  # custom domains can make inference fail in other ways
        return [Finding("warning", "shape-inference", f"shape inference could not run: {_first_line(exc)}")]
    return []


def check_hygiene(proto: onnx.ModelProto) -> list[Finding]:
    """Dangling tensors, unused initializers and inputs, dead nodes (subgraphs included)."""
    graph = proto.graph
    findings: list[Finding] = []
    consumed: set[str] = set()
    _walk(graph, set(), findings, consumed)

    outputs = {o.name for o in graph.output}
    inits = [t.name for t in graph.initializer] + [t.values.name for t in graph.sparse_initializer]
    for name in inits:
        if name not in consumed and name not in outputs:
            findings.append(Finding("warning", "unused-initializer",
                                    f"initializer {name!r} is never used; it only adds to the file size",
                                    tensor=name))
    init_set = set(inits)
    for value in graph.input:
        if value.name not in consumed and value.name not in outputs and value.name not in init_set:
            findings.append(Finding("warning", "unused-input", f"graph input {value.name!r} is never used",
                                    tensor=value.name))
    for node in graph.node:
        produced = [o for o in node.output if o]
        if produced and not any(o in consumed or o in outputs for o in produced):
            findings.append(Finding("warning", "dead-node",
                                    f"no output of {node.op_type} node {node.name or '(unnamed)'} is used "
                                    f"({', '.join(produced)})", node=node.name or None, tensor=produced[0]))
    return findings


def check_dynamic_inputs(proto: onnx.ModelProto) -> list[Finding]:
    """Inputs with symbolic, unnamed or unknown dimensions."""
    init_set = {t.name for t in proto.graph.initializer}
    findings = []
    for value in proto.graph.input:
        if value.name in init_set or not value.type.HasField("tensor_type"):
            continue
        ttype = value.type.tensor_type
        if not ttype.HasField("shape"):
            findings.append(Finding("warning", "unknown-shape",
                                    f"input {value.name!r} declares no shape; inputs must be given in a file",
                                    tensor=value.name))
            continue
        for axis, dim in enumerate(ttype.shape.dim):
            if dim.HasField("dim_value"):
                continue
            if dim.HasField("dim_param") and dim.dim_param:
                findings.append(Finding("info", "dynamic-dim",
                                        f"input {value.name!r} axis {axis} is dynamic ({dim.dim_param!r}); "
                                        "generated inputs use 1 unless a size is given", tensor=value.name))
            else:
                findings.append(Finding("warning", "unknown-dim",
                                        f"input {value.name!r} axis {axis} has neither a size nor a name; "
                                        "fix it (dstudio optimize --fix-shapes) or give inputs in a file",
                                        tensor=value.name))
    return findings


def check_target_support(model: Model, target: str) -> list[Finding]:
    """Operators of ``model`` that ``target`` cannot run.

    ONNX Runtime targets are checked against the kernels their execution provider
    registers (by domain, op and opset version; type-specific gaps only show when a
    session is created). The reference target is checked against the ONNX reference
    evaluator's operators. Other targets (MindSpore) run the source file natively and
    are not checked here.
    """
    from engine.backends import canonical_name, parse_target

    proto = model.require_graph()
    backend, device = parse_target(target)
    target = canonical_name(target)
    if backend == "onnxruntime":
        return _check_ort(proto, device, target)
    if backend == "reference":
        return _check_reference(proto, target)
    return []  # MindSpore runs the source file natively; its op support shows when it loads


def _opsets(proto: onnx.ModelProto) -> dict[str, int]:
    return {("" if o.domain == "ai.onnx" else o.domain): o.version for o in proto.opset_import}


def _all_nodes(graph: onnx.GraphProto) -> Iterator[onnx.NodeProto]:
    for node in graph.node:
        yield node
        for attr in node.attribute:
            for sub in _subgraphs(attr):
                yield from _all_nodes(sub)


def _subgraphs(attr) -> list:
    """The graphs an attribute holds (If/Loop/Scan bodies), if any."""
    return ([attr.g] if attr.HasField("g") else []) + list(attr.graphs)


def _since_version(op_type: str, domain: str, opset: int) -> int | None:
    try:
        return onnx.defs.get_schema(op_type, opset, domain).since_version
    except onnx.defs.SchemaError:
        return None


def _check_ort(proto: onnx.ModelProto, device: str, target: str) -> list[Finding]:
    provider = _ORT_PROVIDERS.get(device.lower(), f"{device}ExecutionProvider")
    try:
        from onnxruntime.capi import onnxruntime_pybind11_state as ort_c

        kernels = ort_c.get_all_opkernel_def()
    except (ImportError, AttributeError) as exc:
        return [Finding("info", "unsupported-op", f"cannot list ONNX Runtime kernels ({exc}); op support not checked")]
    table: dict[tuple[str, str], list[tuple[int, int, dict]]] = {}
    for k in kernels:
        if k.provider == provider:
            lo, hi = k.version_range
            table.setdefault((k.domain, k.op_name), []).append((lo, hi, dict(k.type_constraints)))
    if not table:
        return [Finding("info", "unsupported-op", f"{provider} registers no kernels in this build; not checked")]
    types = _value_types(proto)

    def has(domain: str, op: str, version: int, node: onnx.NodeProto) -> str | None:
        entries = table.get((domain, op))
        if not entries:
            return "no kernel"
        since = _since_version(op, domain, version) if domain in ("", "ai.onnx.ml") else None
        want = since if since is not None else version
        fitting = [e for e in entries if e[0] <= want <= e[1]] or [e for e in entries if e[0] <= version <= e[1]]
        if not fitting:
            return "no kernel"
        bound = _bound_types(node, domain, version, types)
        if not bound:
            return None
        if _types_fit(fitting, bound):
            return None
        if provider == "CPUExecutionProvider" and "tensor(float16)" in bound.values():
            as_float = {p: ("tensor(float)" if t == "tensor(float16)" else t) for p, t in bound.items()}
            if _types_fit(fitting, as_float):
                return FP16_FALLBACK
        shown = ", ".join(f"{p}={t.replace('tensor(', '').rstrip(')')}" for p, t in sorted(bound.items()))
        return f"no kernel for types {shown}"

    return _unsupported(proto, target, has)


def _types_fit(fitting: list[tuple[int, int, dict]], bound: dict[str, str]) -> bool:
    return any(all(t in constraints[param] for param, t in bound.items() if param in constraints)
               for _, _, constraints in fitting)


def _value_types(proto: onnx.ModelProto) -> dict[str, str]:
    """Tensor name -> "tensor(float16)"-style type string, from declarations and shape inference."""
    try:
        graph = onnx.shape_inference.infer_shapes(proto).graph
    except Exception:  # types refine the check; without them only op and version are checked
        graph = proto.graph
    types: dict[str, str] = {}
    for value in list(graph.input) + list(graph.output) + list(graph.value_info):
        elem = value.type.tensor_type.elem_type
        if elem:
            types[value.name] = f"tensor({_TYPE_NAMES.get(elem, str(elem))})"
    for init in graph.initializer:
        types[init.name] = f"tensor({_TYPE_NAMES.get(init.data_type, str(init.data_type))})"
    return types


def _bound_types(node: onnx.NodeProto, domain: str, version: int, types: dict[str, str]) -> dict[str, str]:
    """Type-constraint parameter ("T") -> the type the node's inputs bind it to."""
    try:
        schema = onnx.defs.get_schema(node.op_type, version, domain)
    except onnx.defs.SchemaError:
        return {}
    formals = list(schema.inputs)
    bound: dict[str, str] = {}
    for i, name in enumerate(node.input):
        if not name or name not in types or not formals:
            continue
        formal = formals[min(i, len(formals) - 1)]
        if formal.type_str.startswith("tensor("):
            continue  # a fixed type, not a constraint parameter
        bound.setdefault(formal.type_str, types[name])
    return bound


def _check_reference(proto: onnx.ModelProto, target: str) -> list[Finding]:
    from onnx.reference import ReferenceEvaluator
    from onnx.reference.ops import load_op

    cache: dict[tuple[str, str, int], bool] = {}

    def has(domain: str, op: str, version: int, node: onnx.NodeProto) -> str | None:
        key = (domain, op, version)
        if key not in cache:
            cache[key] = implemented(*key)
        return None if cache[key] else "no implementation"

    def implemented(domain: str, op: str, version: int) -> bool:
        try:
            if domain == "ai.onnx.ml":
                from onnx.reference.ops.aionnxml import load_op as load_ml

                load_ml(domain, op, version)
            else:
                load_op(domain, op, version, evaluator_cls=ReferenceEvaluator)
            return True
        except NotImplementedError:
            return False
        except Exception as exc:  # context-dependent functions are expanded at run time
            return "context" in type(exc).__name__.lower()

    return _unsupported(proto, target, has)


def _unsupported(proto: onnx.ModelProto, target: str, has) -> list[Finding]:
    """One error per node ``has(domain, op, version, node)`` reports a reason for."""
    opsets = _opsets(proto)
    local = {(f.domain, f.name) for f in proto.functions}
    findings = []
    fallback: dict[str, int] = {}
    for node in _all_nodes(proto.graph):
        domain = "" if node.domain == "ai.onnx" else node.domain
        if (node.domain, node.op_type) in local:
            continue
        if target.startswith("onnxruntime") and not domain and node.op_type in _ORT_GRAPH_LEVEL_OPS:
            continue  # ONNX Runtime turns these into initializers while loading; they need no kernel
        version = opsets.get(domain, 1)
        reason = has(domain, node.op_type, version, node)
        if reason == FP16_FALLBACK:
            fallback[node.op_type] = fallback.get(node.op_type, 0) + 1
        elif reason:
            op = f"{domain}::{node.op_type}" if domain else node.op_type
            findings.append(Finding("error", "unsupported-op", f"{target} has {reason} for {op} (opset {version})",
                                    node=node.name or None, tensor=(node.output[0] if node.output else None)))
    if fallback:
        ops = ", ".join(f"{op} x{n}" for op, n in sorted(fallback.items()))
        findings.append(Finding("warning", "fp16-fallback",
                                f"{target} has no float16 kernels for {ops}; ONNX Runtime inserts casts and "
                                "computes them in float32 (slower than the fp32 model, and not fp16 numerics)"))
    return findings


def _walk(graph: onnx.GraphProto, outer: set[str], findings: list[Finding], consumed: set[str]) -> None:
    """Record consumed names and report tensors used before anything produces them."""
    available = set(outer)
    available.update(v.name for v in graph.input)
    available.update(t.name for t in graph.initializer)
    available.update(t.values.name for t in graph.sparse_initializer)
    produced_later = {o for n in graph.node for o in n.output if o}
    for node in graph.node:
        for name in node.input:
            if not name:
                continue
            consumed.add(name)
            if name not in available:
                if name in produced_later:
                    msg = f"{node.op_type} node reads {name!r} before it is produced (nodes are not in topological order)"
                else:
                    msg = f"{node.op_type} node reads {name!r}, which no node, input or initializer produces"
                findings.append(Finding("error", "dangling-tensor", msg, node=node.name or None, tensor=name))
        for attr in node.attribute:
            for sub in _subgraphs(attr):
                _walk(sub, available, findings, consumed)
        available.update(o for o in node.output if o)
    for value in graph.output:
        if value.name not in available:
            findings.append(Finding("error", "dangling-tensor",
                                    f"graph output {value.name!r} is never produced", tensor=value.name))


def _first_line(exc: BaseException) -> str:
    """The exception text on one line (ONNX messages span several)."""
    text = " ".join(str(exc).split())
    return (text or type(exc).__name__)[:300]


def _node_in(exc: BaseException) -> str | None:
    match = re.search(r"node name: ([^)]*)\)|name: (\S+) OpType", str(exc))
    if not match:
        return None
    return (match.group(1) or match.group(2) or "").strip() or None


def error_count(findings: Iterable[Finding]) -> int:
    """Number of error-severity findings."""
    return sum(1 for f in findings if f.severity == "error")

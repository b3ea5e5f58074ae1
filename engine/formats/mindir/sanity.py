"""Checks on a parsed MindIR before anything is decoded, lowered or allocated from it.

protobuf hands back ``bytes`` for a proto2 string that is not UTF-8, lists may be empty
where the code reads ``[0]``, declared shapes may be absurd, and tuples may nest as deep as
a file cares to chain ``MakeTuple`` nodes. :func:`check_model` walks the graphs once,
without recursion, and raises a :class:`FormatError` naming the node and the field.
"""

from __future__ import annotations

from pathlib import Path

from engine.errors import FormatError
from engine.formats._proto import dstudio_mind_ir_pb2 as pb

#: Deepest tuple nesting accepted (networks use a handful of levels; the lowering walks tuples).
MAX_TUPLE_DEPTH = 64
#: Largest element count a declared shape may state.
MAX_ELEMENTS = 1 << 40
MAX_RANK = 64


def check_model(proto: pb.ModelProto, path: Path) -> None:
    """Refuse non-UTF-8 names, nodes without outputs, absurd declared shapes and deep tuple nesting."""
    _text(proto.graph.name, "the graph's name", path)
    prim_ops = {}
    for prim in proto.primitives:
        _text(prim.name, "a primitive's name", path)
        _text(prim.op_type, f"primitive {prim.name!r}'s op type", path)
        prim_ops[prim.name] = prim.op_type
    for graph in [proto.graph, *proto.functions]:
        _text(graph.name, "a function graph's name", path)
        for kind, values in (("input", graph.input), ("output", graph.output)):
            for value in values:
                _text(value.name, f"an {kind} of graph {graph.name!r}", path)
                for t in value.tensor:
                    check_shape(t.dims, f"{kind} {value.name!r}", path)
                    if kind == "input" or t.data_type:  # outputs may leave their type unstated
                        _dtype(t.data_type, f"{kind} {value.name!r}", path)
        for t in graph.parameter:
            _text(t.name, f"a parameter name of graph {graph.name!r}", path)
            _dtype(t.data_type, f"parameter {t.name!r}", path)
        depth: dict[str, int] = {}
        for index, node in enumerate(graph.node):
            label = node.name if isinstance(node.name, str) and node.name else f"#{index}"
            _text(node.name, f"node #{index}'s name", path)
            _text(node.op_type, f"node {label!r}'s op type", path)
            for field_name, names in (("input", node.input), ("output", node.output)):
                for name in names:
                    _text(name, f"an {field_name} of node {label!r}", path)
            if not node.output:
                raise FormatError(f"node {label!r} ({node.op_type}) has no output", path=path, node=label)
            for attr in node.attribute:
                _text(attr.name, f"an attribute name of node {label!r}", path)
                if attr.name == "shape":
                    for t in attr.tensors:
                        check_shape(t.dims, f"declared output of node {label!r}", path)
                        if t.data_type:
                            _dtype(t.data_type, f"declared output of node {label!r}", path)
            op = node.op_type
            if op.startswith("REF::"):
                op = prim_ops.get(op[5:], op)
            if op == "MakeTuple":
                level = 1 + max((depth.get(i, 0) for i in node.input), default=0)
                if level > MAX_TUPLE_DEPTH:
                    raise FormatError(f"node {label!r} nests tuples {level} deep (MakeTuple of MakeTuple ...); at most "
                                      f"{MAX_TUPLE_DEPTH} levels are supported", path=path, node=label)
                depth[node.output[0]] = level


def check_shape(dims, what: str, path: Path) -> int:
    """A declared MindIR shape: -1 marks an unknown dim and ``[-2]`` an unknown rank; returns the known count."""
    dims = [int(d) for d in dims]
    if dims == [-2]:
        return 0
    if len(dims) > MAX_RANK:
        raise FormatError(f"{what} has {len(dims)} dimensions; at most {MAX_RANK} are supported", path=path)
    count = 1
    for axis, dim in enumerate(dims):
        if dim < -1:
            raise FormatError(f"{what} has dimension {dim} at axis {axis}; MindIR dims are >= 0, or -1 for unknown",
                              path=path)
        count *= max(dim, 1)
    if count > MAX_ELEMENTS:
        raise FormatError(f"{what}: shape {dims if len(dims) <= 8 else f'of {len(dims)} dims'} has "
                          f"{count:.3g} elements, more than any model holds (limit 2^40); the file is corrupt",
                          path=path)
    return count


def _dtype(data_type: int, what: str, path: Path) -> None:
    from engine.formats.mindir.values import numpy_dtype

    try:
        numpy_dtype(data_type)
    except ValueError as exc:
        raise FormatError(f"{what}: {exc}", path=path) from None


def _text(value: object, what: str, path: Path) -> None:
    if not isinstance(value, str):
        raise FormatError(f"{what} is not UTF-8 text ({bytes(value)[:40]!r})", path=path)

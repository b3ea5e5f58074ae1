"""MindIR loops (a header graph its body calls back) lowered to ONNX ``Loop``; see control_flow's docstring."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from onnx import TensorProto, helper

from engine.formats.mindir.control_flow import (
    _Break, _structure, _TailCall, _bool_tensor, _branch_outputs, _fail, _follow, _is_monad, _probe, _short, _state,
    _subgraph, emit_if, get_path, prune, set_path, tensor_paths, zeros_like,
)
from engine.formats.mindir.lower import Const, Lowering, Unknown, Value, _flatten
from engine.formats.mindir.reader import MindFunction, MindNode
from engine.formats.mindir.values import numpy_dtype

# --- recognising loops -------------------------------------------------------------------------


def _references(fn: MindFunction) -> set[str]:
    """Graphs ``fn`` calls or binds (Partial) directly."""
    found = set()
    for node in fn.nodes:
        if node.op_type in ("Call", "Partial") and node.inputs:
            found.add(node.inputs[0])
    return found


def _reaches(lo: Lowering, start: str, target: str) -> bool:
    """True when graph ``start`` calls or binds ``target``, directly or through other graphs."""
    functions = lo.graph.functions
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name == target:
            return True
        if name in seen or name not in functions:
            continue
        seen.add(name)
        todo.extend(_references(functions[name]))
    return False


def _loop_parts(lo: Lowering, header: str) -> tuple[str, str] | None:
    """(body, exit) when ``header`` is a loop header: its switch's true closure leads back to it."""
    state = _state(lo)
    if header in state.headers:
        return state.headers[header]
    functions = lo.graph.functions
    fn = functions.get(header)
    parts = None
    if fn is not None:
        producer = {n.outputs[0]: n for n in fn.nodes}
        for node in fn.nodes:
            if node.op_type != "Switch" or len(node.inputs) < 3:
                continue
            t, f = producer.get(node.inputs[1]), producer.get(node.inputs[2])
            if t is None or f is None or t.op_type != "Partial" or f.op_type != "Partial":
                continue
            if t.inputs[0] in functions and _reaches(lo, t.inputs[0], header):
                parts = (t.inputs[0], f.inputs[0])
                break
    state.headers[header] = parts
    return parts


# --- Loop ------------------------------------------------------------------------------------


def _has_path(values: Any, path: tuple) -> bool:
    for k in path:
        if not isinstance(values, tuple) or k >= len(values):
            return False
        values = values[k]
    return True


def _same_value(a: Any, b: Any) -> bool:
    if a is b or (isinstance(a, str) and a == b) or (_is_monad(a) and _is_monad(b)):
        return True
    if isinstance(a, Const) and isinstance(b, Const):
        try:
            return bool(np.array_equal(np.asarray(a.value), np.asarray(b.value)))
        except (TypeError, ValueError):
            return False
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_same_value(x, y) for x, y in zip(a, b))
    return a == b


def _first_unknown(values: list) -> Unknown | None:
    return next((v for v in _flatten(tuple(values)) if isinstance(v, Unknown)), None)


@dataclass
class _Body:
    """A built Loop body: carried header positions, the graph, initial state, and what it learnt.

    ``unchanged``: carried positions the body passes back as they came in (then read from outside).
    ``leave``: when the body can leave the loop (break), the structure of the value it leaves
    with; the loop then carries two more kinds of state after the header's: an ``exited`` flag
    and that value's tensors.
    """

    carried: list[tuple]  # index paths into the header's arguments (tuples are looked into)
    graph: Any
    initial: list[str]
    unchanged: set[tuple]
    leave: Any = None
    leave_count: int = 0


def _lower_loop(lo: Lowering, header: str, args: tuple, node: MindNode) -> Value:
    fn = lo.graph.functions[header]
    first, scope = _probe(lo, header, args, node)
    if isinstance(first.cond, Const) and not bool(np.asarray(first.cond.value)):
        return _follow(lo, first, scope, False, node)  # never entered
    unknown = _first_unknown([*args, first.cond])
    if unknown is not None:
        return unknown
    base = lo.unique(f"{node.scope or 'Loop'}/Loop").replace("/", "_")
    cond0 = _bool_tensor(lo, first.cond, f"{base}_cond0")
    # Every tensor argument is carried at first; what the body passes back unchanged (weights,
    # the loop bound) is then read from outside instead and the body built again.
    candidates = tensor_paths(args)
    built = _build_body(lo, header, args, candidates, base, node)
    if isinstance(built, Unknown):
        return built
    if built.unchanged:
        built = _build_body(lo, header, args, [k for k in candidates if k not in built.unchanged], base, node)
        if isinstance(built, Unknown):
            return built
    carried = built.carried
    types = [lo.types[name] for name in built.initial]
    finals = [lo.unique(f"{base}_{_state_name(fn, k)}_final") for k in carried]
    finals += [lo.unique(f"{base}_left{k}") for k in range(len(built.initial) - len(carried))]
    lo.nodes.append(helper.make_node("Loop", ["", cond0, *built.initial], finals, name=base, body=built.graph))
    for name, t in zip(finals, types):
        lo.types[name] = t
    final_args = args
    for k, name in zip(carried, finals):
        final_args = set_path(final_args, k, name)

    def ran_out() -> Value:
        last, last_scope = _probe(lo, header, final_args, node)
        return _follow(lo, last, last_scope, False, node)

    if built.leave is None:
        return ran_out()
    exited, left = finals[len(carried)], finals[len(carried) + 1:]
    else_nodes, normal = _subgraph(lo, ran_out, f"{base}_exit")
    if _first_unknown([normal]) is not None:
        return _first_unknown([normal])
    outs = emit_if(lo, exited, f"{base}_result", [], left, else_nodes, list(_flatten(normal)), node)
    return _structure(built.leave, outs)


def _state_name(fn: MindFunction, path: tuple) -> str:
    return _short(fn.inputs[path[0]].name) + "".join(f"_{k}" for k in path[1:])


def _build_body(lo: Lowering, header: str, args: tuple, carried: list[tuple], base: str,
                node: MindNode) -> _Body | Unknown:
    """The Loop body for ``header`` carrying positions ``carried``, or the Unknown a node inside made."""
    fn = lo.graph.functions[header]
    initial, types = [], []
    for k in carried:
        tag = "_".join(map(str, k))
        tensor = lo._as_tensor_name(get_path(args, k), f"{base}_init{tag}")
        dims, dtype = lo.types.get(tensor, (None, None))
        declared = fn.inputs[k[0]]
        if declared.data_type and len(k) == 1:
            dtype = numpy_dtype(declared.data_type)
        if dtype is None:
            raise _fail(lo, node, f"the type of loop state {_state_name(fn, k)!r} is not known")
        if declared.data_type and len(k) == 1 and lo.types.get(tensor, (None, None))[1] not in (None, np.dtype(dtype)):
            tensor = lo.emit("Cast", [tensor], name=f"{base}/Cast{tag}", outputs=[f"{base}_init{tag}_cast"],
                             to=helper.np_dtype_to_tensor_dtype(np.dtype(dtype)))
        lo.types[tensor] = (dims, np.dtype(dtype))
        initial.append(tensor)
        types.append((dims, np.dtype(dtype)))
    iter_in, cond_in = lo.unique(f"{base}_iter"), lo.unique(f"{base}_cond_in")
    state_in = [lo.unique(f"{base}_{_state_name(fn, k)}") for k in carried]
    for name, t in zip(state_in, types):
        lo.types[name] = t

    def body() -> tuple[Any, list, _Break | None]:
        body_args = args
        for k, name in zip(carried, state_in):
            body_args = set_path(body_args, k, name)
        entry, scope = _probe(lo, header, body_args, node)
        state = _state(lo)
        state.bodies.append(header)
        state.body_args.append(body_args)
        try:
            step = _follow(lo, entry, scope, True, node)
        finally:
            state.bodies.pop()
            state.body_args.pop()
        if isinstance(step, Unknown):
            return step, [], None
        leave = step if isinstance(step, _Break) else None
        if not isinstance(step, (_TailCall, _Break)):
            raise _fail(lo, node, f"the body of loop {_short(header)!r} does not end by calling the loop again")
        # State the Loop does not carry must come back as it went in, or the answer would be wrong.
        kept = step.args
        for k in carried:
            kept = set_path(kept, k, get_path(body_args, k)) if _has_path(kept, k) else kept
        for k, (before, after) in enumerate(zip(body_args, kept)):
            if not _same_value(before, after):
                raise _fail(lo, node, f"loop state {_short(fn.inputs[k].name)!r} ({type(before).__name__}) changes "
                                      "in the body in a way a Loop cannot carry, which is not supported")
        nxt, _ = _probe(lo, header, step.args, node)
        if isinstance(nxt.cond, Unknown):
            return nxt.cond, [], None
        next_state = []
        for k, (_, dtype) in zip(carried, types):
            value = get_path(step.args, k)
            if isinstance(value, Const):  # a state reset to a constant keeps the state's dtype
                value = lo.const_tensor(value.value, dtype=dtype, hint=f"{base}_next")
            next_state.append(value)
        cond = _bool_tensor(lo, nxt.cond, f"{base}_cond_next")
        if leave is not None:  # go on only if the body did not leave and the header says so
            cond = lo.emit("And", [leave.going_on, cond], name=f"{base}/And", outputs=[f"{base}_go_on"])
            lo.types[cond] = ([], np.dtype(np.bool_))
        return cond, next_state, leave

    nodes, (cond_next, next_state, leave) = _subgraph(lo, body, f"{base}_body")
    unknown = _first_unknown([cond_next, *next_state])
    if unknown is not None:
        return unknown
    unchanged = {k for k, name, value in zip(carried, state_in, next_state) if value == name}
    extra_in: list[str] = []
    extra_out: list[str] = []
    leave_structure, leave_count = None, 0
    if leave is not None:
        parts = list(_flatten(leave.value))
        left = lo.emit("Not", [leave.going_on], name=f"{base}/Not", outputs=[f"{base}_exited"])
        lo.types[left] = ([], np.dtype(np.bool_))
        nodes.append(lo.nodes.pop())  # emitted into the outer list: it belongs to the body
        extra_out = [left, *parts]
        initial = initial + [lo.const_tensor(np.array(False), hint="false")] + [zeros_like(lo, v, node) for v in parts]
        types = types + [([], np.dtype(np.bool_))] + [lo.types[v] for v in parts]
        extra_in = [lo.unique(f"{base}_exited_in")] + [lo.unique(f"{base}_left_in{k}") for k in range(len(parts))]
        leave_structure, leave_count = leave.value, len(parts)
    outs = _branch_outputs(lo, nodes, (cond_next, *next_state, *extra_out), f"{base}_body")
    inputs = [helper.make_tensor_value_info(iter_in, TensorProto.INT64, []),
              helper.make_tensor_value_info(cond_in, TensorProto.BOOL, [])]
    inputs += [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(t[1]), None)
               for n, t in zip(state_in + extra_in, types)]
    outputs = [helper.make_tensor_value_info(outs[0], TensorProto.BOOL, None)]
    outputs += [helper.make_tensor_value_info(o, helper.np_dtype_to_tensor_dtype(t[1]), None)
                for o, t in zip(outs[1:], types)]
    graph = helper.make_graph(prune(nodes, outs), f"{base}_body", inputs, outputs)
    return _Body(carried, graph, initial, unchanged, leave_structure, leave_count)

"""MindIR control flow lowered to ONNX ``If`` and ``Loop``, plus the scalar primitives loops use.

MindSpore exports a data-dependent branch or loop as separate graphs (``ModelProto.functions``)
tied together in continuation-passing style. What MindSpore 2.10 writes, and how each is lowered:

1. ``Partial(f, a, b)`` binds leading arguments of graph ``f``: a :class:`Closure` value.
2. ``Switch(cond, t, f)`` picks one of two closures: a :class:`SwitchValue`.
3. A ``Call`` (the reader's name for a CNode whose op is a graph or a value) of a graph inlines
   that graph's nodes with the arguments bound; of a closure, the same with its bound ones first.
4. A call of a switch with a constant condition inlines the chosen branch; with a computed one
   it becomes an ONNX ``If`` whose branches are the two closures inlined as subgraphs. A branch
   that calls a join graph (the code after the ``if``) carries its copy of the join.
5. A loop is a header graph ``H(state)`` that computes the condition and calls
   ``Switch(cond, Partial(B, ...), Partial(A, ...))``, where the body ``B`` ends by calling ``H``
   again with the next state (tail recursion) and ``A`` is the exit. A call of such a header
   becomes an ONNX ``Loop``: the header's condition on the initial state is the loop's initial
   condition; the body subgraph inlines ``B`` and then the header's condition on the next state;
   state the body passes back unchanged (weights, the loop bound) is read from the outer scope,
   not carried; the exit ``A`` is inlined after the loop on the final state.

What is not recognised (a recursion that is not such a loop, a tail call inside a branch of the
body, branches that return different structures) is refused with UnsupportedOpError naming it,
which the driver records like any primitive it cannot lower.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from onnx import TensorProto, helper

from engine.errors import UnsupportedOpError
from engine.formats.mindir.lower import OPS, PLUMBING, Const, Lowering, NodeContext, Unknown, Value, _flatten
from engine.formats.mindir.reader import MindFunction, MindNode
from engine.formats.mindir.values import Monad, numpy_dtype


@dataclass(frozen=True)
class FuncRef:
    """A reference to one of the file's exported graphs."""

    name: str


@dataclass(frozen=True)
class Closure:
    """``Partial(fn, *args)``: a graph with its leading arguments bound."""

    fn: str
    args: tuple


@dataclass(frozen=True)
class SwitchValue:
    """``Switch(cond, if_true, if_false)`` before it is called."""

    cond: Any
    if_true: Any
    if_false: Any


@dataclass(frozen=True)
class _Pending:
    """A loop header's switch, caught while probing the header for its condition."""

    cond: Any
    if_true: Any
    if_false: Any
    args: tuple


@dataclass(frozen=True)
class _TailCall:
    """The loop body's call of its header: the next state."""

    args: tuple


class _State:
    """Per-lowering control-flow bookkeeping, kept on the Lowering object."""

    def __init__(self) -> None:
        self.stack: list[str] = []  # graphs being inlined, innermost last
        self.probing: set[str] = set()  # headers whose switch is caught, not called
        self.bodies: list[str] = []  # headers whose body is being built, innermost last
        self.headers: dict[str, tuple[str, str] | None] = {}  # header -> (body, exit), memo


def _state(lo: Lowering) -> _State:
    state = getattr(lo, "_control_flow", None)
    if state is None:
        state = _State()
        lo._control_flow = state  # type: ignore[attr-defined]
    return state


def _is_monad(value: Any) -> bool:
    return isinstance(value, Monad) or (isinstance(value, Const) and isinstance(value.value, Monad))


def _short(name: str) -> str:
    return name.split(":", 1)[1] if ":" in name else name


def _fail(lo: Lowering, node: MindNode | None, message: str) -> UnsupportedOpError:
    where = (node.scope or node.name) if node is not None else None
    return UnsupportedOpError(f"control flow: {message}", path=lo.path, node=where)


# --- plumbing handlers ------------------------------------------------------------------------


def _partial(lo: Lowering, node: MindNode) -> Value:
    fn = lo.values.get(node.inputs[0])
    if isinstance(fn, Closure):
        return Closure(fn.fn, fn.args + tuple(lo.values.get(i) for i in node.inputs[1:]))
    if not isinstance(fn, FuncRef):
        raise _fail(lo, node, f"Partial of {type(fn).__name__}, not of a graph")
    return Closure(fn.name, tuple(lo.values.get(i) for i in node.inputs[1:]))


def _switch(lo: Lowering, node: MindNode) -> Value:
    cond, if_true, if_false = (lo.values.get(i) for i in node.inputs[:3])
    return SwitchValue(cond, if_true, if_false)


def _call(lo: Lowering, node: MindNode) -> Value:
    callee = lo.values.get(node.inputs[0])
    if callee is None and node.inputs[0] in lo.graph.functions:
        callee = FuncRef(node.inputs[0])
    args = tuple(lo.values.get(i) for i in node.inputs[1:])
    return call_value(lo, callee, args, node)


def call_value(lo: Lowering, callee: Any, args: tuple, node: MindNode) -> Value:
    """Lower a call of ``callee`` (a graph, closure or switch) with ``args``."""
    if isinstance(callee, Unknown):
        return callee
    if isinstance(callee, Closure):
        return call_value(lo, FuncRef(callee.fn), callee.args + args, node)
    if isinstance(callee, FuncRef):
        return _call_graph(lo, callee.name, args, node)
    if isinstance(callee, SwitchValue):
        state = _state(lo)
        if state.stack and state.stack[-1] in state.probing:
            return _Pending(callee.cond, callee.if_true, callee.if_false, args)
        cond = callee.cond
        if isinstance(cond, Const):
            return call_value(lo, callee.if_true if bool(np.asarray(cond.value)) else callee.if_false, args, node)
        if isinstance(cond, Unknown):
            return cond
        return _lower_if(lo, cond, callee.if_true, callee.if_false, args, node)
    raise _fail(lo, node, f"call of a {type(callee).__name__}, not of a graph")


def _call_graph(lo: Lowering, name: str, args: tuple, node: MindNode) -> Value:
    state = _state(lo)
    if state.bodies and state.bodies[-1] == name:
        return _TailCall(args)
    if name in state.stack:
        if _loop_parts(lo, name) is None:
            raise _fail(lo, node, f"graph {_short(name)!r} calls itself, and not as a loop this converter knows")
        raise _fail(lo, node, f"loop {_short(name)!r} is re-entered from inside a branch of its body")
    if _loop_parts(lo, name) is not None:
        return _lower_loop(lo, name, args, node)
    return inline(lo, name, args, node)


def inline(lo: Lowering, name: str, args: tuple, node: MindNode | None) -> Value:
    """Lower graph ``name``'s nodes in place with its inputs bound to ``args``; its output value."""
    return _inline_scoped(lo, name, args, node)[0]


def _inline_scoped(lo: Lowering, name: str, args: tuple, node: MindNode | None) -> tuple[Value, Any]:
    """:func:`inline`, also returning the graph's scope (closures it made still read it)."""
    fn = lo.graph.functions.get(name)
    if fn is None:
        raise _fail(lo, node, f"call of {_short(name)!r}, which the file does not define")
    if len(args) != len(fn.inputs):
        raise _fail(lo, node, f"graph {_short(name)!r} takes {len(fn.inputs)} arguments, called with {len(args)}")
    state = _state(lo)
    saved = lo.values
    scope = lo.values = saved.new_child()
    state.stack.append(name)
    try:
        for inp, arg in zip(fn.inputs, args):
            scope[inp.name] = arg
        for cname, value in fn.constants.items():
            scope[cname] = Const(value)
        for inner in fn.nodes:
            scope[inner.outputs[0]] = lo.lower_tracked(inner)
        outputs = [scope.get(o) for o in fn.outputs]
    finally:
        state.stack.pop()
        lo.values = saved
    return (outputs[0] if len(outputs) == 1 else tuple(outputs)), scope


@contextmanager
def _in_scope(lo: Lowering, scope: Any) -> Iterator[None]:
    saved = lo.values
    lo.values = scope
    try:
        yield
    finally:
        lo.values = saved


@contextmanager
def _probing(lo: Lowering, header: str) -> Iterator[None]:
    state = _state(lo)
    state.probing.add(header)
    try:
        yield
    finally:
        state.probing.discard(header)


def _probe(lo: Lowering, header: str, args: tuple, node: MindNode) -> tuple[_Pending, Any]:
    """Inline the header up to its switch: the condition and both closures on ``args``, and its scope."""
    with _probing(lo, header):
        result, scope = _inline_scoped(lo, header, args, node)
    if not isinstance(result, _Pending):
        raise _fail(lo, node, f"loop header {_short(header)!r} does not end in a switch")
    return result, scope


def _follow(lo: Lowering, pending: _Pending, scope: Any, branch: bool, node: MindNode) -> Value:
    """Call one side of a probed header's switch, inside the header's scope (its closures read it)."""
    with _in_scope(lo, scope):
        return call_value(lo, pending.if_true if branch else pending.if_false, pending.args, node)


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


# --- If and Loop -------------------------------------------------------------------------------


def _bool_tensor(lo: Lowering, value: Any, hint: str) -> str:
    name = lo._as_tensor_name(value, hint)
    dtype = lo.types.get(name, (None, None))[1]
    if dtype is not None and np.dtype(dtype) == np.bool_:
        return name
    out = lo.emit("Cast", [name], name=f"{hint}/Cast", outputs=[f"{hint}_bool"], to=TensorProto.BOOL)
    lo.types[out] = (lo.types.get(name, (None, None))[0], np.dtype(np.bool_))
    return out


def _elem_type(lo: Lowering, tensor: str) -> int | None:
    dtype = lo.types.get(tensor, (None, None))[1]
    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype)) if dtype is not None else None


def _subgraph(lo: Lowering, build, name: str) -> tuple[list, Any]:
    """Run ``build()`` with node emission redirected; (emitted nodes, its result)."""
    saved = lo.nodes
    lo.nodes = []
    try:
        result = build()
        return lo.nodes, result
    finally:
        lo.nodes = saved


def _branch_outputs(lo: Lowering, nodes: list, value: Value, hint: str) -> list[str]:
    """The tensors of a branch's result, each through an Identity the branch owns."""
    outs = []
    for k, item in enumerate(_flatten(value)):
        tensor = lo._as_tensor_name(item, f"{hint}_{k}")
        out = lo.unique(f"{hint}_out{k}")
        nodes.append(helper.make_node("Identity", [tensor], [out], name=lo.unique(f"{hint}/Identity{k}")))
        lo.types[out] = lo.types.get(tensor, (None, None))
        outs.append(out)
    return outs


def _structure(value: Value, names: list[str]) -> Value:
    """``value``'s tuple nesting with its tensors replaced, in order, by ``names``."""
    it = iter(names)

    def rebuild(v: Value) -> Value:
        if isinstance(v, tuple):
            return tuple(rebuild(x) for x in v)
        if v is None or isinstance(v, Monad):
            return v
        return next(it)

    return rebuild(value)


def _lower_if(lo: Lowering, cond: Any, if_true: Any, if_false: Any, args: tuple, node: MindNode) -> Value:
    base = lo.unique(f"{node.scope or 'If'}/If").replace("/", "_")
    cond_name = _bool_tensor(lo, cond, f"{base}_cond")
    then_nodes, then_value = _subgraph(lo, lambda: call_value(lo, if_true, args, node), f"{base}_then")
    else_nodes, else_value = _subgraph(lo, lambda: call_value(lo, if_false, args, node), f"{base}_else")
    for value in (then_value, else_value):
        if any(isinstance(v, Unknown) for v in _flatten(value)):
            return next(v for v in _flatten(value) if isinstance(v, Unknown))
    if isinstance(then_value, _TailCall) or isinstance(else_value, _TailCall):
        raise _fail(lo, node, "a branch of a loop body leaves the loop (break, or return inside a while), "
                              "which is not supported yet")
    for value in (then_value, else_value):
        if any(isinstance(v, (_Pending, Closure, FuncRef, SwitchValue)) for v in _flatten(value)):
            raise _fail(lo, node, "a branch returns a function, which ONNX If cannot express")
    then_outs = _branch_outputs(lo, then_nodes, then_value, f"{base}_then")
    else_outs = _branch_outputs(lo, else_nodes, else_value, f"{base}_else")
    if len(then_outs) != len(else_outs):
        raise _fail(lo, node, f"the branches return {len(then_outs)} and {len(else_outs)} tensors")
    then_infos, else_infos, outs = [], [], []
    for k, (t, e) in enumerate(zip(then_outs, else_outs)):
        elem = _elem_type(lo, t) or _elem_type(lo, e)
        if elem is None:
            raise _fail(lo, node, f"the type of branch output {k} is not known")
        t_dims, e_dims = lo.types.get(t, (None, None))[0], lo.types.get(e, (None, None))[0]
        then_infos.append(helper.make_tensor_value_info(t, elem, None))
        else_infos.append(helper.make_tensor_value_info(e, elem, None))
        out = lo.unique(f"{base}_out{k}")
        lo.types[out] = (t_dims if t_dims == e_dims else None, helper.tensor_dtype_to_np_dtype(elem))
        outs.append(out)
    then_graph = helper.make_graph(then_nodes, f"{base}_then", [], then_infos)
    else_graph = helper.make_graph(else_nodes, f"{base}_else", [], else_infos)
    lo.nodes.append(helper.make_node("If", [cond_name], outs, name=base, then_branch=then_graph, else_branch=else_graph))
    return _structure(then_value, outs)


def _first_unknown(values: list) -> Unknown | None:
    return next((v for v in _flatten(tuple(values)) if isinstance(v, Unknown)), None)


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
    candidates = [k for k, a in enumerate(args) if not _is_monad(a) and isinstance(a, (str, Const))]
    built = _build_body(lo, header, args, candidates, base, node)
    if isinstance(built, Unknown):
        return built
    unchanged = built[3]
    if unchanged:
        built = _build_body(lo, header, args, [k for k in candidates if k not in unchanged], base, node)
        if isinstance(built, Unknown):
            return built
    carried, graph, initial, _ = built
    types = [lo.types[name] for name in initial]
    finals = [lo.unique(f"{base}_{_short(fn.inputs[k].name)}_final") for k in carried]
    lo.nodes.append(helper.make_node("Loop", ["", cond0, *initial], finals, name=base, body=graph))
    final_args = list(args)
    for k, name, t in zip(carried, finals, types):
        final_args[k] = name
        lo.types[name] = t
    last, scope = _probe(lo, header, tuple(final_args), node)
    return _follow(lo, last, scope, False, node)


def _build_body(lo: Lowering, header: str, args: tuple, carried: list[int], base: str,
                node: MindNode) -> tuple[list[int], Any, list[str], set[int]] | Unknown:
    """The Loop body for ``header`` carrying positions ``carried``.

    Returns (carried, body graph, initial state tensors, carried positions the body passes
    back unchanged), or the Unknown a node inside made.
    """
    fn = lo.graph.functions[header]
    initial, types = [], []
    for k in carried:
        tensor = lo._as_tensor_name(args[k], f"{base}_init{k}")
        dims, dtype = lo.types.get(tensor, (None, None))
        declared = fn.inputs[k]
        if declared.data_type:
            dtype = numpy_dtype(declared.data_type)
        if dtype is None:
            raise _fail(lo, node, f"the type of loop state {_short(declared.name)!r} is not known")
        if declared.data_type and lo.types.get(tensor, (None, None))[1] not in (None, np.dtype(dtype)):
            tensor = lo.emit("Cast", [tensor], name=f"{base}/Cast{k}", outputs=[f"{base}_init{k}_cast"],
                             to=helper.np_dtype_to_tensor_dtype(np.dtype(dtype)))
        lo.types[tensor] = (dims, np.dtype(dtype))
        initial.append(tensor)
        types.append((dims, np.dtype(dtype)))
    iter_in, cond_in = lo.unique(f"{base}_iter"), lo.unique(f"{base}_cond_in")
    state_in = [lo.unique(f"{base}_{_short(fn.inputs[k].name)}") for k in carried]
    for name, t in zip(state_in, types):
        lo.types[name] = t

    def body() -> tuple[Any, list]:
        body_args = list(args)
        for k, name in zip(carried, state_in):
            body_args[k] = name
        entry, scope = _probe(lo, header, tuple(body_args), node)
        state = _state(lo)
        state.bodies.append(header)
        try:
            step = _follow(lo, entry, scope, True, node)
        finally:
            state.bodies.pop()
        if isinstance(step, Unknown):
            return step, []
        if not isinstance(step, _TailCall):
            raise _fail(lo, node, f"the body of loop {_short(header)!r} does not end by calling the loop again")
        nxt, _ = _probe(lo, header, step.args, node)
        if isinstance(nxt.cond, Unknown):
            return nxt.cond, []
        next_state = []
        for k, (_, dtype) in zip(carried, types):
            value = step.args[k]
            if isinstance(value, Const):  # a state reset to a constant keeps the state's dtype
                value = lo.const_tensor(value.value, dtype=dtype, hint=f"{base}_next{k}")
            next_state.append(value)
        return _bool_tensor(lo, nxt.cond, f"{base}_cond_next"), next_state

    nodes, (cond_next, next_state) = _subgraph(lo, body, f"{base}_body")
    unknown = _first_unknown([cond_next, *next_state])
    if unknown is not None:
        return unknown
    unchanged = {k for k, name, value in zip(carried, state_in, next_state) if value == name}
    outs = _branch_outputs(lo, nodes, (cond_next, *next_state), f"{base}_body")
    inputs = [helper.make_tensor_value_info(iter_in, TensorProto.INT64, []),
              helper.make_tensor_value_info(cond_in, TensorProto.BOOL, [])]
    inputs += [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(t[1]), None)
               for n, t in zip(state_in, types)]
    outputs = [helper.make_tensor_value_info(outs[0], TensorProto.BOOL, None)]
    outputs += [helper.make_tensor_value_info(o, helper.np_dtype_to_tensor_dtype(t[1]), None)
                for o, t in zip(outs[1:], types)]
    return carried, helper.make_graph(nodes, f"{base}_body", inputs, outputs), initial, unchanged


def prune(nodes: list) -> list:
    """``nodes`` without those whose outputs nothing reads (probing a header on the final state
    leaves its condition behind). Graph outputs are read by the driver's Identity nodes."""
    def reads(node: Any) -> set[str]:
        names = set(node.input)
        for attr in node.attribute:
            for graph in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                for inner in graph.node:
                    names |= reads(inner)
                names |= {o.name for o in graph.output}
        return names

    keep = list(nodes)
    while True:
        used: set[str] = set()
        for node in keep:
            used |= reads(node)
        kept = [n for n in keep if (n.op_type == "Identity" and n.name.startswith("Return/")) or any(o in used for o in n.output)]
        if len(kept) == len(keep):
            return kept
        keep = kept


def shared_constants(graph: Any) -> dict[str, Const]:
    """Constants of the exported graphs, for the graphs that read them as free variables.

    MindSpore lets one graph read a constant another graph defines (a loop body reads the
    ``1`` its exit graph declares). A name two graphs define with different values is left out.
    """
    found: dict[str, Any] = {}
    clashes: set[str] = set()
    for fn in graph.functions.values():
        for name, value in fn.constants.items():
            if name in found and not _same(found[name], value):
                clashes.add(name)
            found.setdefault(name, value)
    return {name: Const(value) for name, value in found.items() if name not in clashes}


def _same(a: Any, b: Any) -> bool:
    try:
        return type(a) is type(b) and bool(np.array_equal(np.asarray(a), np.asarray(b)))
    except (TypeError, ValueError):
        return a is b


PLUMBING.update({"Partial": _partial, "Switch": _switch, "Call": _call})


# --- scalar primitives (Python numbers in the graph: loop counters) ----------------------------

_SCALAR_BINARY = {
    "ScalarAdd": ("Add", np.add), "ScalarSub": ("Sub", np.subtract), "ScalarMul": ("Mul", np.multiply),
    "ScalarLt": ("Less", np.less), "ScalarGt": ("Greater", np.greater), "ScalarLe": ("LessOrEqual", np.less_equal),
    "ScalarGe": ("GreaterOrEqual", np.greater_equal), "ScalarEq": ("Equal", np.equal),
    "scalar_lt": ("Less", np.less), "scalar_gt": ("Greater", np.greater), "scalar_add": ("Add", np.add),
}


def _scalar_binary(onnx_op: str, fold: Any):
    def rule(ctx: NodeContext) -> Value:
        if ctx.is_const(0) and ctx.is_const(1):
            folded = fold(ctx.const(0), ctx.const(1))
            return Const(folded.item() if np.ndim(folded) == 0 else folded)
        dtype = ctx.dtype(0) if not ctx.is_const(0) else ctx.dtype(1)
        a = ctx.tensor(0) if not ctx.is_const(0) else ctx.const_tensor(np.asarray(ctx.const(0), dtype=dtype), hint="a")
        b = ctx.tensor(1) if not ctx.is_const(1) else ctx.const_tensor(np.asarray(ctx.const(1), dtype=dtype), hint="b")
        return ctx.emit(onnx_op, [a, b])

    return rule


def _scalar_to_tensor(ctx: NodeContext) -> Value:
    """ScalarToTensor(x, dtype): a constant folds; a computed scalar (a loop counter) is cast."""
    from engine.formats.mindir.values import dtype_from_type_id

    target = ctx.out_dtype()
    code = ctx.arg(1, "dtype")
    if isinstance(code, int) and not isinstance(code, bool):
        target = dtype_from_type_id(code)
    elif hasattr(code, "dtype") and not isinstance(code, np.ndarray):
        target = code.dtype
    if target is None:
        raise ctx.fail("destination dtype unknown")
    if ctx.is_const(0):
        return Const(np.asarray(ctx.const(0), dtype=target))
    return ctx.emit("Cast", [ctx.tensor(0)], to=helper.np_dtype_to_tensor_dtype(np.dtype(target)))


# setdefault: the op table's own modules win if they lower one of these too.
for _name, (_onnx_op, _fold) in _SCALAR_BINARY.items():
    OPS.setdefault(_name, _scalar_binary(_onnx_op, _fold))
OPS.setdefault("ScalarToTensor", _scalar_to_tensor)
del _name, _onnx_op, _fold

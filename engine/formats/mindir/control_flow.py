"""MindIR control flow lowered to ONNX ``If`` and ``Loop`` (loops: engine.formats.mindir.loops).

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
   not carried; the exit ``A`` is inlined after the loop on the final state. Tuple state is
   carried tensor by tensor; state that is not a tensor must come back unchanged.
6. A ``break`` (or ``return`` inside a while): a branch in the body where one side calls the
   header again and the other returns the loop's result. The branch's If also says whether the
   body goes on; the Loop carries an ``exited`` flag and the result (zeros until set, so its
   shape must be static), and after the Loop an If picks the result or the exit graph's value.

What is not recognised (a recursion that is not such a loop, a break nested in two branches, a
break value of dynamic shape, branches that return different structures) is refused with
UnsupportedOpError naming it, which the driver records like any primitive it cannot lower.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from onnx import TensorProto, helper

from engine.errors import UnsupportedOpError
from engine.formats.mindir.lower import PLUMBING, Const, Lowering, Unknown, Value, _flatten
from engine.formats.mindir.reader import MindNode
from engine.formats.mindir.values import Monad


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


@dataclass(frozen=True)
class _Break:
    """A loop body that goes on (``going_on`` true, with ``args``) or leaves the loop with ``value``."""

    going_on: str
    args: tuple
    value: Any


class _State:
    """Per-lowering control-flow bookkeeping, kept on the Lowering object."""

    def __init__(self) -> None:
        self.stack: list[str] = []  # graphs being inlined, innermost last
        self.probing: set[str] = set()  # headers whose switch is caught, not called
        self.bodies: list[str] = []  # headers whose body is being built, innermost last
        self.body_args: list[tuple] = []  # the header arguments inside each of those bodies
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
    from engine.formats.mindir.loops import _loop_parts, _lower_loop

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


# --- If -------------------------------------------------------------------------------


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
        return _lower_loop_if(lo, cond_name, base, (then_nodes, then_value), (else_nodes, else_value), node)
    for value in (then_value, else_value):
        if any(isinstance(v, (_Pending, _Break, Closure, FuncRef, SwitchValue)) for v in _flatten(value)):
            raise _fail(lo, node, "a branch returns a function or leaves a loop in a way ONNX If cannot express")
    outs = emit_if(lo, cond_name, base, then_nodes, list(_flatten(then_value)), else_nodes,
                   list(_flatten(else_value)), node)
    return _structure(then_value, outs)


def emit_if(lo: Lowering, cond_name: str, base: str, then_nodes: list, then_vals: list, else_nodes: list,
            else_vals: list, node: MindNode) -> list[str]:
    """Emit an ONNX If whose branches (already lowered into ``*_nodes``) yield ``*_vals``; its outputs."""
    then_outs = _branch_outputs(lo, then_nodes, tuple(then_vals), f"{base}_then")
    else_outs = _branch_outputs(lo, else_nodes, tuple(else_vals), f"{base}_else")
    if len(then_outs) != len(else_outs):
        raise _fail(lo, node, f"the branches return {len(then_outs)} and {len(else_outs)} tensors")
    then_infos, else_infos, outs = [], [], []
    for k, (t, e) in enumerate(zip(then_outs, else_outs)):
        t_elem, e_elem = _elem_type(lo, t), _elem_type(lo, e)
        if t_elem is not None and e_elem is not None and t_elem != e_elem:
            raise _fail(lo, node, f"branch output {k} is {helper.tensor_dtype_to_np_dtype(t_elem)} on one side and "
                                  f"{helper.tensor_dtype_to_np_dtype(e_elem)} on the other, which ONNX If cannot express")
        elem = t_elem or e_elem
        if elem is None:
            raise _fail(lo, node, f"the type of branch output {k} is not known")
        t_dims, e_dims = lo.types.get(t, (None, None))[0], lo.types.get(e, (None, None))[0]
        then_infos.append(helper.make_tensor_value_info(t, elem, None))
        else_infos.append(helper.make_tensor_value_info(e, elem, None))
        out = lo.unique(f"{base}_out{k}")
        lo.types[out] = (t_dims if t_dims == e_dims else None, helper.tensor_dtype_to_np_dtype(elem))
        outs.append(out)
    then_graph = helper.make_graph(prune(then_nodes, then_outs), f"{base}_then", [], then_infos)
    else_graph = helper.make_graph(prune(else_nodes, else_outs), f"{base}_else", [], else_infos)
    lo.nodes.append(helper.make_node("If", [cond_name], outs, name=base, then_branch=then_graph, else_branch=else_graph))
    return outs


def _is_tensor(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, Const) and not isinstance(value.value, Monad))


def tensor_paths(values: tuple, prefix: tuple = ()) -> list[tuple]:
    """Index paths of the tensors in ``values``, looking into tuples (loop state may be a tuple)."""
    paths: list[tuple] = []
    for k, value in enumerate(values):
        if isinstance(value, tuple):
            paths += tensor_paths(value, (*prefix, k))
        elif _is_tensor(value):
            paths.append((*prefix, k))
    return paths


def get_path(values: Any, path: tuple) -> Any:
    for k in path:
        values = values[k]
    return values


def set_path(values: tuple, path: tuple, new: Any) -> tuple:
    """``values`` with the item at ``path`` replaced (tuples rebuilt along the way)."""
    items = list(values)
    items[path[0]] = new if len(path) == 1 else set_path(items[path[0]], path[1:], new)
    return tuple(items)


def zeros_like(lo: Lowering, value: Any, node: MindNode) -> str:
    """A constant of zeros with ``value``'s static shape and dtype (a placeholder a branch or loop needs)."""
    if isinstance(value, Const):
        array = np.asarray(value.value)
        dims, dtype = list(array.shape), array.dtype
    else:
        dims, dtype = lo.types.get(value, (None, None))
    if dims is None or dtype is None or any(d < 0 for d in dims):
        raise _fail(lo, node, "a loop is left (break) with a value whose shape is not static, which is not supported")
    return lo.filled(list(dims), dtype, 0, hint="zeros")


def _lower_loop_if(lo: Lowering, cond_name: str, base: str, then: tuple, other: tuple, node: MindNode) -> Value:
    """A branch inside a loop body where one side (or both) calls the loop again.

    Both sides go on: an If over the next state. One side leaves the loop (``break``): an If
    that says whether the body goes on, with the next state (the current one on the leaving
    side) and the value the loop is left with (zeros on the going-on side).
    """
    state = _state(lo)
    if not state.body_args:
        raise _fail(lo, node, "a branch calls a loop header from outside the loop's body")
    (then_nodes, then_value), (else_nodes, else_value) = then, other
    if isinstance(then_value, _TailCall) and isinstance(else_value, _TailCall):
        positions = tensor_paths(then_value.args)
        if positions != tensor_paths(else_value.args):
            raise _fail(lo, node, "the two sides of a branch in a loop body give the loop different kinds of state")
        outs = emit_if(lo, cond_name, base, then_nodes, [get_path(then_value.args, k) for k in positions], else_nodes,
                       [get_path(else_value.args, k) for k in positions], node)
        args = then_value.args
        for k, out in zip(positions, outs):
            args = set_path(args, k, out)
        return _TailCall(args)
    tail_first = isinstance(then_value, _TailCall)
    tail, value = (then_value, else_value) if tail_first else (else_value, then_value)
    parts = list(_flatten(value))
    if not parts or not all(_is_tensor(v) for v in parts) or isinstance(value, (_Break, _TailCall)):
        raise _fail(lo, node, "a loop is left (break) with something other than tensors, which is not supported")
    current = state.body_args[-1]
    positions = tensor_paths(tail.args)
    if positions != tensor_paths(current):
        raise _fail(lo, node, "loop state that is not a tensor changes in the body, which is not supported")
    yes = lo.const_tensor(np.array(True), hint="true")
    no = lo.const_tensor(np.array(False), hint="false")
    zeros = [zeros_like(lo, v, node) for v in parts]
    going_on = [yes, *(get_path(tail.args, k) for k in positions), *zeros]
    leaving = [no, *(get_path(current, k) for k in positions), *parts]
    if tail_first:
        outs = emit_if(lo, cond_name, base, then_nodes, going_on, else_nodes, leaving, node)
    else:
        outs = emit_if(lo, cond_name, base, then_nodes, leaving, else_nodes, going_on, node)
    args = tail.args
    for k, out in zip(positions, outs[1:]):
        args = set_path(args, k, out)
    return _Break(outs[0], args, _structure(value, outs[1 + len(positions):]))


def prune(nodes: list, outputs: list[str] | None = None) -> list:
    """``nodes`` without those whose outputs nothing reads (probing a loop header leaves its
    condition behind). ``outputs``: the (sub)graph's outputs; the main graph's are read by the
    driver's ``Return/`` Identity nodes."""
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
        used: set[str] = set(outputs or ())
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

from engine.formats.mindir import control_scalars  # noqa: E402,F401  (registration of the scalar primitives)

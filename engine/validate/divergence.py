"""First divergent node: where two runs of ONNX graphs start to disagree, found by bisection.

The two runs are the same graph on two targets, or a graph and an edited copy that keeps
its node and tensor names (optimized, converted to fp16, perturbed). Nodes are taken in
the reference graph's topological order. For a position ``p`` the *cut* is the set of
tensors produced at or before ``p`` and still needed after it (or graph outputs): every
later value is a function of the cut, the inputs and the weights. So "some tensor of the
cut at ``p`` differs beyond tolerance" is false before the first divergence that reaches
the outputs and true from it on, which makes it bisectable:

1. Mark the cut tensors of a few evenly spaced positions as extra graph outputs, run both
   sides once, and compare them.
2. Keep the interval between the last agreeing position and the first disagreeing one;
   repeat inside it until the two are adjacent.
3. The node at the first disagreeing position produced the differing tensor.

Only one round of marked tensors (``max_tensors`` at most) is held at a time, so large
models do not keep every intermediate in memory. Positions whose cut holds a tensor the
candidate does not have (fused away, renamed) are skipped; the answer then spans the
nodes between the two nearest comparable positions.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import onnx

from engine.errors import InputError
from engine.jobs import Job, as_job
from engine.model import Model
from engine.validate.parity import compare_arrays
from engine.validate.tolerances import graph_precision

log = logging.getLogger(__name__)

#: marked positions per round; rounds needed ~ log(nodes) / log(POSITIONS_PER_ROUND + 1).
POSITIONS_PER_ROUND = 8
#: at most this many intermediate tensors are marked (and held) per round.
MAX_TENSORS = 64


@dataclass
class Divergence:
    """The first node whose output differs beyond tolerance.

    Attributes:
        node: node name (or "#<index> <op>" for an unnamed node).
        op_type: its operator.
        output: the differing output tensor.
        max_abs: largest absolute difference in that tensor.
        max_rel: largest relative difference in that tensor.
        rtol: relative tolerance used.
        atol: absolute tolerance used.
        index: the node's position in the reference graph's topological order.
        span: how many nodes lie between the last agreeing and the first disagreeing
            comparable positions (1: the node is pinned down exactly).
        runs: how many times each side was run.
        inputs_agree: the node's inputs that could be compared all agreed (None when none
            could be compared).
    """

    node: str
    op_type: str
    output: str
    max_abs: float
    max_rel: float
    rtol: float
    atol: float
    index: int
    span: int = 1
    runs: int = 0
    inputs_agree: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("max_abs", "max_rel"):
            if not math.isfinite(out[key]):
                out[key] = None
        return out

    def __str__(self) -> str:
        where = "" if self.span <= 1 else f" (somewhere in the {self.span} nodes ending here)"
        return (f"{self.node} ({self.op_type}) output {self.output!r}: max abs error {self.max_abs:.4g}"
                f"{where}")


@dataclass
class _Plan:
    nodes: list[onnx.NodeProto]
    cuts: list[list[str]]  # position -> tensors to compare
    producer: dict[str, int]


def find_first_divergence(
    reference: Model,
    candidate: Model | None,
    feeds: Mapping[str, np.ndarray],
    *,
    reference_target: str = "onnxruntime:cpu",
    candidate_target: str | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    options: object | None = None,
    positions_per_round: int = POSITIONS_PER_ROUND,
    max_tensors: int = MAX_TENSORS,
    job: Job | None = None,
) -> Divergence | None:
    """Find the first node (topological order) whose output differs between two runs.

    Args:
        reference: the trusted model (ONNX graph).
        candidate: the model under test, sharing tensor names with ``reference``; None
            means the same model (compared across two targets).
        feeds: the inputs both runs get.
        reference_target: target of the reference run (an ONNX target: onnxruntime:*, reference).
        candidate_target: target of the candidate run (default: the reference's).
        rtol: relative tolerance (default: by dtype and the candidate graph's precision).
        atol: absolute tolerance (default: by dtype and the candidate graph's precision).
        options: ``engine.backends.TargetOptions`` for both runs.
        positions_per_round: cut positions marked per run.
        max_tensors: most tensors marked (and held in memory) per run.
        job: progress and cancel.

    Returns:
        The divergence, or None when no intermediate tensor differs beyond tolerance.

    Raises:
        InputError: the two graphs share no tensor names, so nothing can be compared.
    """
    job = as_job(job)
    same = candidate is None or candidate is reference or candidate.onnx is reference.onnx
    cand_model = reference if candidate is None else candidate
    candidate_target = candidate_target or reference_target
    ref_proto = reference.require_graph()
    cand_proto = cand_model.require_graph()
    precision = graph_precision(cand_proto)
    plan = _plan(ref_proto, cand_proto)
    usable = [p for p, cut in enumerate(plan.cuts) if cut]
    if not usable:
        raise InputError("the two graphs share no intermediate tensor names; cannot locate a divergence",
                         hint="first-divergence search needs a candidate derived from the reference")

    verdicts: dict[str, tuple[bool, float, float, float, float]] = {}
    lo, hi = -1, None  # P(lo) is false (inputs agree); P(hi) true once known
    runs = 0
    budget = max(1, math.ceil(math.log(len(usable) + 1, positions_per_round + 1))) + 2
    while True:
        inside = [p for p in usable if lo < p and (hi is None or p < hi)]
        if hi is None:
            picks = _spread(inside[:-1], positions_per_round - 1) + inside[-1:]
        else:
            picks = _spread(inside, positions_per_round)
        if not picks:
            break
        picks = _fit(picks, plan.cuts, max_tensors, verdicts)
        tensors = sorted({t for p in picks for t in plan.cuts[p] if t not in verdicts})
        runs += 1
        job.report(min(0.95, runs / budget), f"bisecting: round {runs}, {len(inside)} positions left")
        if tensors:
            ref_out = _run_marked(reference, reference_target, tensors, feeds, options)
            cand_out = ref_out if same and candidate_target == reference_target else None
            if cand_out is None:
                cand_out = _run_marked(cand_model, candidate_target, tensors, feeds, options)
            for name in tensors:
                verdicts[name] = _judge(name, ref_out[name], cand_out[name], rtol, atol, precision)
            del ref_out, cand_out
        first_bad = next((p for p in picks if any(not verdicts[t][0] for t in plan.cuts[p])), None)
        if first_bad is None:
            if hi is None:
                return None  # even the last comparable position agrees
            lo = max(picks)
            continue
        hi = first_bad
        lo = max([p for p in picks if p < first_bad] + [lo])
        if not [p for p in usable if lo < p < hi]:
            break
    if hi is None:
        return None
    return _report(plan, verdicts, lo, hi, runs)


def _judge(name: str, ref: np.ndarray, cand: np.ndarray, rtol, atol, precision: str):
    ref, cand = np.asarray(ref), np.asarray(cand)
    if ref.shape != cand.shape:
        return (False, math.inf, math.inf, math.nan, math.nan)
    try:
        res = compare_arrays(name, ref, cand, rtol=rtol, atol=atol, precision=precision)
    except InputError:  # strings and other non-numeric tensors: compare exactly
        equal = bool(np.array_equal(ref, cand))
        return (equal, 0.0 if equal else math.inf, 0.0 if equal else math.inf, 0.0, 0.0)
    return (res.passed, res.max_abs, res.max_rel, res.rtol, res.atol)


def _report(plan: _Plan, verdicts, lo: int, hi: int, runs: int) -> Divergence:
    bad = [t for t in plan.cuts[hi] if not verdicts[t][0]]
    tensor = min(bad, key=lambda t: plan.producer[t])
    index = plan.producer[tensor]
    node = plan.nodes[index]
    ok, max_abs, max_rel, rtol, atol = verdicts[tensor]
    compared = [verdicts[i][0] for i in node.input if i in verdicts]
    return Divergence(
        node=node.name or f"#{index} {node.op_type}",
        op_type=node.op_type,
        output=tensor,
        max_abs=max_abs,
        max_rel=max_rel,
        rtol=rtol,
        atol=atol,
        index=index,
        span=hi - lo,
        runs=runs,
        inputs_agree=all(compared) if compared else None,
    )


def _plan(ref: onnx.ModelProto, cand: onnx.ModelProto) -> _Plan:
    """Cut tensors per position of the reference graph, restricted to what both sides compute."""
    graph = ref.graph
    nodes = list(graph.node)
    n = len(nodes)
    comparable = {o for node in cand.graph.node for o in node.output if o}
    tensor_like = _tensor_valued(ref)
    producer: dict[str, int] = {}
    last_use: dict[str, int] = {}
    for i, node in enumerate(nodes):
        for name in _node_reads(node):
            last_use[name] = i
        for out in node.output:
            if out:
                producer[out] = i
    for out in graph.output:
        last_use[out.name] = n
    cuts: list[list[str]] = []
    live: list[str] = []
    for i, node in enumerate(nodes):
        live = [t for t in live if last_use.get(t, -1) > i]
        live += [o for o in node.output if o and last_use.get(o, -1) > i and o in tensor_like]
        ok = all(t in comparable for t in live)
        cuts.append(list(live) if ok else [])
    return _Plan(nodes=nodes, cuts=cuts, producer=producer)


def _node_reads(node: onnx.NodeProto) -> list[str]:
    """A node's inputs plus the outer-scope names its subgraphs read."""
    names = [i for i in node.input if i]
    for attr in node.attribute:
        for sub in _subgraphs(attr):
            inner = {v.name for v in sub.input} | {t.name for t in sub.initializer}
            for sub_node in sub.node:
                names += [i for i in _node_reads(sub_node) if i not in inner]
                inner.update(sub_node.output)
    return names


def _subgraphs(attr) -> list:
    """The graphs an attribute holds (If/Loop/Scan bodies), if any."""
    return ([attr.g] if attr.HasField("g") else []) + list(attr.graphs)


def _tensor_valued(model: onnx.ModelProto) -> set[str]:
    """Names of values that are (or may be) plain tensors; sequences and maps are skipped."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model).graph
    except Exception:  # inference is a refinement here, not a requirement
        log.debug("shape inference failed; treating every value as a tensor", exc_info=True)
        return {o for node in model.graph.node for o in node.output}
    non_tensor = {v.name for v in list(inferred.value_info) + list(inferred.output)
                  if v.type.WhichOneof("value") not in (None, "tensor_type")}
    return {o for node in model.graph.node for o in node.output if o not in non_tensor}


def _spread(items: list[int], k: int) -> list[int]:
    """Up to ``k`` items evenly spaced over ``items``, ending at the last one."""
    if k <= 0 or not items:
        return []
    if len(items) <= k:
        return list(items)
    step = len(items) / k
    return sorted({items[min(len(items) - 1, int(round((j + 1) * step)) - 1)] for j in range(k)})


def _fit(picks: list[int], cuts: list[list[str]], max_tensors: int, known: Mapping[str, object]) -> list[int]:
    """Drop positions (keeping the last) until the tensors still to be run fit the budget."""
    picks = list(picks)
    while len(picks) > 1 and len({t for p in picks for t in cuts[p] if t not in known}) > max_tensors:
        picks.pop(len(picks) // 2 if len(picks) > 2 else 0)
    return picks


def _run_marked(model: Model, target: str, tensors: list[str], feeds, options) -> dict[str, np.ndarray]:
    """Run ``model`` on ``target`` with ``tensors`` added as graph outputs; return them."""
    from engine.precision import open_session  # applies options.precision (fp16, int8) first

    proto = model.require_graph()
    existing = {o.name for o in proto.graph.output}
    added = [t for t in tensors if t not in existing]
    marked = Model(onnx=proto, source_path=model.source_path, source_format="onnx", metadata=model.metadata)
    count = len(proto.graph.output)
    # Marked in place and restored (copying the proto would copy every weight);
    # sessions serialise or index the graph when opened and are closed before the restore.
    proto.graph.output.extend(onnx.helper.make_empty_tensor_value_info(t) for t in added)
    try:
        with open_session(marked, target, options) as session:
            outputs = session.infer(dict(feeds))
    finally:
        del proto.graph.output[count:]
    return {t: outputs[t] for t in tensors}

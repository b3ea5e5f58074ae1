"""Every node that keeps a model from being written as MindIR, not only the first one.

The writer stops at the first node it cannot express. To tell a person everything a model
needs, :func:`find_blockers` replays the conversion node by node: a node that fails is
recorded and its outputs stand in as placeholders, so later nodes are still tried. An op
with no rule is recorded wherever it is; other refusals that come downstream of a blocked
node (a shape that became data-dependent there, an operand that is no longer constant) are
echoes of the first and are left out. :func:`describe` makes that one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import EngineError, UnsupportedOpError
from engine.model import Model


@dataclass(frozen=True)
class Blocker:
    """One node the writer refuses: its op, its name and why."""

    op: str
    node: str
    reason: str


def find_blockers(model: Model, path: str | Path) -> list[Blocker]:
    """Replay the MindIR export of ``model`` and return every blocking node, in graph order.

    Raises:
        EngineError: what the writer raises before it looks at nodes (custom domains,
            failed shape inference).
    """
    from engine.formats.mindir import export_ops  # noqa: F401  (registration)
    from engine.formats.mindir import writer as w

    writer = w.MindIRWriter(model, Path(path))
    graph = writer.onnx.graph
    for value in graph.input:
        if value.name not in writer.consts and value.name in writer.shapes and value.name in writer.dtypes:
            writer.values[value.name] = writer.builder.input(value.name, writer.shapes[value.name], writer.dtypes[value.name])
    tainted: set[str] = set()  # outputs of a blocked node and everything computed from them
    found: list[Blocker] = []
    placeholder = writer.builder.primitive("Blocked")
    for node in graph.node:
        downstream = any(name in tainted for name in node.input)
        standard = node.domain in ("", "ai.onnx")
        rule = w.EXPORT_OPS.get(node.op_type) if standard else None
        reason = None
        if rule is None:
            reason = "no MindIR rule" if standard else f"custom domain {node.domain}"
        else:
            try:
                writer._check_sizes(node)  # before the rule allocates what a stated shape asks for
                result = rule(w.ExportContext(writer, node))
            except EngineError as exc:
                reason = exc.message.split(": ", 1)[-1]
            except Exception as exc:  # noqa: BLE001 - a rule that breaks blocks as well
                reason = f"{type(exc).__name__}: {exc}"
            else:
                outs = result if isinstance(result, list) else [result]
                for name, value in zip(node.output, outs):
                    if isinstance(value, np.ndarray):
                        writer.consts[name] = value
                    elif value is not None:
                        writer.values[name] = value
        if reason is not None and (rule is None or not downstream):
            found.append(Blocker(node.op_type, node.name, reason))
        if reason is not None or downstream:
            tainted.update(node.output)
        if reason is not None:
            for name in node.output:
                writer.values[name] = writer.builder.cnode(placeholder, [], scope="blocked")
    return found


def describe(blockers: list[Blocker]) -> str:
    """One line: each blocking op with its node count, first node and reason."""
    by_op: dict[str, list[Blocker]] = {}
    for b in blockers:
        by_op.setdefault(b.op, []).append(b)
    parts = []
    for op, items in by_op.items():
        first = items[0]
        count = f"{len(items)} nodes" if len(items) > 1 else "1 node"
        parts.append(f"{op} ({count}; first {first.node or '?'}: {first.reason})")
    return f"{len(by_op)} op{'s block' if len(by_op) != 1 else ' blocks'} MindIR export: " + ", ".join(parts)


def every_blocker(exc: UnsupportedOpError, model: Model, path: str | Path) -> UnsupportedOpError:
    """The writer's first refusal widened to one line naming every blocking op of ``model``.

    ``exc`` comes back unchanged unless it names a node that the replay finds among others:
    a graph-level refusal (an input's dtype), a replay that finds nothing more, misses the
    node the writer stopped at, or fails itself leaves the writer's own line.
    """
    try:
        found = find_blockers(model, path)
    except Exception:  # noqa: BLE001 - the first refusal still stands
        return exc
    nodes = {b.node or b.op for b in found}
    if not exc.node or exc.node not in nodes or len(found) == 1:
        # a graph-level refusal (an input's dtype), or the writer stopped where the replay did
        # not, or there is nothing more to say: the writer's own line stays the truth
        return exc
    return UnsupportedOpError(describe(found), path=exc.path)

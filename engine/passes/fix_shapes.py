"""Fix or free input dimensions: static sizes for faster kernels, a dynamic batch for serving.

Rewrite rules:
    1. ``batch=N`` sets the first dimension of every graph input to ``N``.
    2. ``dims={"name": size}`` sets every input dimension named ``name`` (a dim_param) to
       ``size``; unknown names are an error naming the dims the model has.
    3. ``dynamic_batch=True`` makes the first dimension of every input and output the
       symbolic ``batch`` (after 1-2, so ``batch`` and ``dynamic_batch`` do not mix).
    4. Stale intermediate shapes (``value_info``) and output shapes are cleared and ONNX
       shape inference runs again, so every tensor's shape follows the new inputs; the
       pass fails when inference finds the new sizes contradict the graph (a Reshape to a
       fixed batch of 1, say).

Hand-written on top of ``onnx.shape_inference`` (strict mode for the contradiction check).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import onnx

from engine.errors import EngineError
from engine.passes import _graph
from engine.passes.base import Pass, PassResult

log = logging.getLogger(__name__)

BATCH_DIM = "batch"


class FixShapes(Pass):
    """Set dynamic input dims to sizes, or make the batch dim dynamic, then re-infer shapes.

    Args:
        batch: the batch size to fix the first input dimension to.
        dims: named dims to fix (``{"seq": 128}``).
        dynamic_batch: make the first dim of every input and output symbolic instead.
    """

    name = "fix_shapes"
    summary = "fix dynamic dims (batch, named dims) to sizes or make the batch dynamic; re-infer shapes"

    def __init__(self, batch: int | None = None, dims: Mapping[str, int] | None = None,
                 dynamic_batch: bool = False) -> None:
        if batch is not None and dynamic_batch:
            raise EngineError("give either a fixed batch or dynamic_batch, not both")
        self.batch = batch
        self.dims = dict(dims or {})
        self.dynamic_batch = dynamic_batch

    def call(self, model: onnx.ModelProto) -> PassResult:
        out = _graph.copy_model(model)
        graph = out.graph
        inits = {t.name for t in graph.initializer}
        inputs = [i for i in graph.input if i.name not in inits]
        changes: list[str] = []
        known = {d.dim_param for i in inputs for d in i.type.tensor_type.shape.dim if d.dim_param}
        missing = set(self.dims) - known
        if missing:
            raise EngineError(
                f"the model has no input dimension named {', '.join(sorted(missing))}",
                hint="named dims: " + (", ".join(sorted(known)) or "none"),
            )
        for vi in inputs:
            dims = vi.type.tensor_type.shape.dim
            for i, d in enumerate(dims):
                if i == 0 and self.batch is not None:
                    _set(d, self.batch, changes, vi.name, i)
                elif d.dim_param in self.dims:
                    _set(d, self.dims[d.dim_param], changes, vi.name, i)
            if self.dynamic_batch and len(dims) > 0 and dims[0].dim_param != BATCH_DIM:
                dims[0].Clear()
                dims[0].dim_param = BATCH_DIM
                changes.append(f"{vi.name}[0]={BATCH_DIM}")
        if not changes:
            return PassResult(out, False)
        del graph.value_info[:]
        for o in graph.output:
            tt = o.type.tensor_type
            if self.dynamic_batch and tt.HasField("shape") and len(tt.shape.dim) > 0:
                rank = len(tt.shape.dim)
                tt.shape.ClearField("dim")
                tt.shape.dim.add().dim_param = BATCH_DIM
                for _ in range(rank - 1):
                    tt.shape.dim.add()
            elif tt.HasField("shape"):
                tt.ClearField("shape")
        try:
            out = onnx.shape_inference.infer_shapes(out, strict_mode=True, data_prop=True)
        except Exception as exc:
            raise EngineError(
                f"the new shapes contradict the graph: {str(exc).splitlines()[0][:240]}",
                hint="the model may hard-code its batch (a Reshape to a fixed shape); re-export it",
            ) from exc
        notes = ["; ".join(changes)] + _fixed_outputs(out, self.dynamic_batch)
        return PassResult(out, True, notes)


def _set(dim, size: int, changes: list[str], name: str, index: int) -> None:
    if dim.HasField("dim_value") and dim.dim_value == size:
        return
    dim.Clear()
    dim.dim_value = int(size)
    changes.append(f"{name}[{index}]={size}")


def _fixed_outputs(model: onnx.ModelProto, dynamic_batch: bool) -> list[str]:
    """Warnings for outputs whose batch inference pinned (a Reshape to a fixed shape)."""
    notes = []
    if not dynamic_batch:
        return notes
    for o in model.graph.output:
        tt = o.type.tensor_type
        if tt.HasField("shape") and len(tt.shape.dim) > 0 and tt.shape.dim[0].HasField("dim_value"):
            text = (f"warning: output {o.name} keeps a fixed batch of {tt.shape.dim[0].dim_value}; "
                    "the graph hard-codes it and may reject other batches")
            log.warning(text)
            notes.append(text)
    return notes

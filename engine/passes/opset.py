"""Opset conversion: move the default ONNX domain to another opset version.

Rewrite rules:
    1. The model's ``ai.onnx`` opset becomes ``version`` (default 17, the canonical opset);
       each node is rewritten by the adapters of ``onnx.version_converter`` (Clip's
       attributes become inputs, ReduceSum's ``axes`` becomes an input, and so on).
    2. A model already at ``version`` is returned unchanged.
    3. The IR version is raised to what the new opset needs when it is lower.

Library: ``onnx.version_converter`` does all of it; this wrapper adds a clear error.
"""

from __future__ import annotations

import logging

import onnx

from engine.errors import EngineError
from engine.passes import _graph
from engine.passes.base import Pass, PassResult

log = logging.getLogger(__name__)

CANONICAL_OPSET = 17


class ConvertOpset(Pass):
    """Convert the default-domain opset with ``onnx.version_converter``.

    Args:
        version: the opset to convert to.
    """

    name = "opset"
    summary = f"convert the ai.onnx opset (default {CANONICAL_OPSET}) with onnx.version_converter"

    def __init__(self, version: int = CANONICAL_OPSET) -> None:
        self.version = int(version)

    def call(self, model: onnx.ModelProto) -> PassResult:
        current = _graph.opset_version(model)
        if current == self.version:
            return PassResult(_graph.copy_model(model), False)
        try:
            out = onnx.version_converter.convert_version(model, self.version)
        except Exception as exc:
            raise EngineError(
                f"cannot convert opset {current} to {self.version}: {str(exc).splitlines()[0][:200]}",
                hint="try another --opset, or leave the opset as it is",
            ) from exc
        return PassResult(out, True, [f"opset {current} -> {self.version}"])


def at_least(model: onnx.ModelProto, version: int) -> onnx.ModelProto:
    """``model`` converted up to ``version`` when it is older; otherwise ``model`` itself."""
    if _graph.opset_version(model) >= version:
        return model
    return ConvertOpset(version).call(model).model

"""Bridges to onnx_ir, the IR that onnxscript's optimizer and onnx_ir's passes work on."""

from __future__ import annotations

import onnx


def to_ir(model: onnx.ModelProto):
    """An onnx_ir Model of a copy of ``model`` (the caller's proto is untouched)."""
    import onnx_ir as ir

    return ir.serde.deserialize_model(model)


def from_ir(ir_model) -> onnx.ModelProto:
    import onnx_ir as ir

    return ir.serde.serialize_model(ir_model)


def have_onnxscript() -> bool:
    import importlib.util

    return importlib.util.find_spec("onnxscript") is not None

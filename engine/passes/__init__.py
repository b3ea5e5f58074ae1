"""Graph passes (fold, clean, fuse, fix shapes, fp16, quantize) and the registry that names them.

Each pass is a :class:`~engine.passes.base.Pass` in its own module, imported only when
asked for, so ``import engine.passes`` stays cheap and optional libraries (onnxscript,
onnxruntime.quantization) load only for the passes that wrap them.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from typing import Any

from engine.errors import EngineError
from engine.passes.base import Pass, PassResult

log = logging.getLogger(__name__)

__all__ = ["Pass", "PassResult", "get_pass", "pass_class", "pass_names", "describe_passes"]

#: Registry name -> "module:Class". Order is the order ``--help`` lists them in.
_REGISTRY: dict[str, str] = {
    "constant_folding": "engine.passes.constant_folding:ConstantFolding",
    "dead_code": "engine.passes.dead_code:DeadCodeElimination",
    "shape_simplify": "engine.passes.shape_simplify:ShapeSimplify",
    "fuse_batchnorm": "engine.passes.fuse_batchnorm:FuseBatchNorm",
    "fuse_bias_activation": "engine.passes.fuse_bias_activation:FuseBiasActivation",
    "fix_shapes": "engine.passes.fix_shapes:FixShapes",
    "opset": "engine.passes.opset:ConvertOpset",
    "compact_names": "engine.passes.compact_names:CompactNames",
    "fp16": "engine.passes.fp16:Float16",
    "int8_weight": "engine.passes.int8_weight:Int8WeightOnly",
    "quantize_dynamic": "engine.passes.quantize_dynamic:QuantizeDynamic",
    "quantize_static": "engine.passes.quantize_static:QuantizeStatic",
    "stem_space_to_depth": "engine.passes.stem_space_to_depth:StemSpaceToDepth",
    "reduce_to_pool": "engine.passes.reduce_to_pool:ReduceToPool",
}


def pass_names() -> list[str]:
    """Every registered pass name."""
    return list(_REGISTRY)


def pass_class(name: str) -> type[Pass]:
    """The class registered as ``name``.

    Raises:
        EngineError: no pass has that name (the message lists the known ones).
    """
    try:
        target = _REGISTRY[name]
    except KeyError:
        raise EngineError(f"unknown pass {name!r}", hint="known passes: " + ", ".join(_REGISTRY)) from None
    module_name, cls_name = target.split(":")
    return getattr(importlib.import_module(module_name), cls_name)


def get_pass(name: str, *, shared: dict[str, Any] | None = None, **options: Any) -> Pass:
    """Build the pass ``name`` with ``options``.

    ``shared`` options (``target``, ``calibration``, ``seed``) can be given to every pass
    of a chain: each pass takes those its constructor accepts and ignores the rest.
    ``options`` are meant for this pass, and one it does not accept is an error.

    Raises:
        EngineError: unknown pass, or an option the pass does not have.
    """
    cls = pass_class(name)
    params = {} if cls.__init__ is object.__init__ else dict(inspect.signature(cls.__init__).parameters)
    params.pop("self", None)
    accepted = {k for k, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    unknown = set(options) - accepted
    if unknown:
        raise EngineError(f"pass {name} has no option {', '.join(sorted(unknown))}",
                          hint="its options: " + (", ".join(sorted(accepted)) or "none"))
    kwargs = {k: v for k, v in (shared or {}).items() if k in accepted and v is not None}
    kwargs.update(options)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise EngineError(f"bad options for pass {name}: {exc}") from exc


def describe_passes() -> list[tuple[str, str, str]]:
    """(name, precision, summary) of every pass, for help texts and the studio's list."""
    rows = []
    for name in _REGISTRY:
        cls = pass_class(name)
        rows.append((name, cls.precision, cls.summary))
    return rows


def register(name: str, target: str) -> None:
    """Register an extra pass as ``"module:Class"`` (plug-ins, test doubles)."""
    _REGISTRY[name] = target


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)

"""The pass protocol: a pass is a class whose ``call(model)`` returns a :class:`PassResult`."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, ClassVar

import onnx

log = logging.getLogger(__name__)

#: Precision classes a pass can produce; they decide how parity is judged.
PRECISIONS = ("fp32", "fp16", "int8")


@dataclass
class PassResult:
    """What one pass did.

    Attributes:
        model: the rewritten graph (a new proto; the pass's input is never changed).
        modified: True when the graph changed.
        notes: short human-readable facts ("folded 20 BatchNormalization into Conv").
    """

    model: onnx.ModelProto
    modified: bool
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"modified": self.modified, "notes": list(self.notes)}


class Pass:
    """A graph transformation on the canonical ONNX model.

    Subclasses set ``name`` (the registry key), ``summary`` (one line for ``--help`` and
    the studio), ``precision`` (the numeric class of its output: ``"fp32"`` for exact
    rewrites, ``"fp16"`` or ``"int8"`` for lossy ones) and implement :meth:`call`.
    Options go to ``__init__`` as keyword arguments.
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    precision: ClassVar[str] = "fp32"

    def call(self, model: onnx.ModelProto) -> PassResult:
        """Rewrite ``model`` and return the result; never mutates ``model``."""
        raise NotImplementedError

    def __call__(self, model: onnx.ModelProto) -> PassResult:
        return self.call(model)

    def options(self) -> dict[str, Any]:
        """The options this instance was built with (for reports)."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options().items())
        return f"{type(self).__name__}({opts})"

"""What a MindIR -> ONNX lowering rule sees of one MindIR node (:class:`NodeContext`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from engine.errors import FormatError, UnsupportedOpError
from engine.formats.mindir.lower import Const, Value
from engine.formats.mindir.plumbing import _is_int_item
from engine.formats.mindir.reader import MindNode
from engine.formats.mindir.values import numpy_dtype

if TYPE_CHECKING:
    from engine.formats.mindir.lower import Lowering


#: Most outputs one emitted node may have (Split/Unstack sizes come from the file).
MAX_NODE_OUTPUTS = 1 << 16


class NodeContext:
    """What a lowering rule sees of one MindIR node."""

    def __init__(self, lowering: Lowering, node: MindNode) -> None:
        self.lo = lowering
        self.node = node
        base = node.scope or lowering.graph.short(node.name)
        self.base = base
        self.out_name = lowering.graph.short(node.outputs[0])

    # inputs -----------------------------------------------------------------------
    @property
    def num_inputs(self) -> int:
        return len(self.node.inputs)

    def value(self, i: int) -> Value:
        name = self.node.inputs[i]
        if name not in self.lo.values:
            raise FormatError(f"input {name!r} is used before it is defined", path=self.lo.path, node=self.base)
        return self.lo.values[name]

    def is_const(self, i: int) -> bool:
        return i < self.num_inputs and isinstance(self.value(i), Const)

    def const(self, i: int) -> Any:
        value = self.value(i)
        if not isinstance(value, Const):
            raise UnsupportedOpError(
                f"{self.node.op_type} input {i} must be a constant here, but is computed at run time",
                path=self.lo.path, node=self.base,
            )
        return value.value

    def arg(self, i: int, name: str, default: Any = None) -> Any:
        """An operand that MindSpore passes as input ``i`` (2.x) or attribute ``name`` (1.x)."""
        if i < self.num_inputs and self.is_const(i):
            return self.const(i)
        return self.node.attrs.get(name, default)

    def attr(self, name: str, default: Any = None) -> Any:
        return self.node.attrs.get(name, default)

    def tensor(self, i: int, dtype: np.dtype | None = None) -> str:
        """Input ``i`` as an ONNX tensor name, turning a constant into an initializer."""
        value = self.value(i)
        if isinstance(value, str):
            return value
        if isinstance(value, Const):
            v = value.value
            if isinstance(v, np.ndarray) and dtype is None:
                return self.lo.const_tensor(v, hint=f"{self.out_name}_c{i}")
            return self.lo.const_tensor(v, dtype=dtype, hint=f"{self.out_name}_c{i}")
        if isinstance(value, tuple) and value and all(_is_int_item(self.lo, v) for v in value):
            return self.lo.int_vector(value, hint=f"{self.out_name}_c{i}")
        raise FormatError(f"{self.node.op_type} input {i} is not a tensor ({type(value).__name__})", path=self.lo.path, node=self.base)

    def tensors(self, i: int) -> list[str]:
        """Input ``i`` as a list of tensors (a MakeTuple or a constant tuple)."""
        value = self.value(i)
        if isinstance(value, tuple):
            return [v if isinstance(v, str) else self.lo.const_tensor(v.value) for v in value]
        if isinstance(value, Const) and isinstance(value.value, tuple):
            return [self.lo.const_tensor(v) for v in value.value]
        return [self.tensor(i)]

    def shape(self, i: int) -> list[int] | None:
        """Static shape of input ``i`` when the file states it."""
        value = self.value(i)
        if isinstance(value, Const):
            return list(np.shape(value.value))
        if isinstance(value, str):
            dims = self.lo.types.get(value, (None, None))[0]
            return list(dims) if dims is not None else None
        return None

    def dtype(self, i: int) -> np.dtype | None:
        value = self.value(i)
        if isinstance(value, Const):
            return np.asarray(value.value).dtype
        if isinstance(value, str):
            return self.lo.types.get(value, (None, None))[1]
        return None

    def out_shape(self, k: int = 0) -> list[int] | None:
        types = self.node.out_types
        return list(types[k][0]) if k < len(types) else None

    def out_dtype(self, k: int = 0) -> np.dtype | None:
        types = self.node.out_types
        return numpy_dtype(types[k][1]) if k < len(types) and types[k][1] else None

    # outputs ----------------------------------------------------------------------
    def emit(self, op_type: str, inputs: list[str], *, final: bool = True, outputs: int = 1, suffix: str = "", **attrs: Any) -> Any:
        """Emit an ONNX node; ``final`` ones carry the MindIR value's name, helpers a derived one."""
        name = self.base + (f"/{suffix}" if suffix else "")
        if outputs > MAX_NODE_OUTPUTS:  # a corrupt shape or attribute can ask for billions of them
            raise self.fail(f"{op_type} would have {outputs} outputs (at most {MAX_NODE_OUTPUTS}); "
                            "a size in the file is corrupt")
        if outputs == 1:
            out = [self.out_name if final else f"{self.out_name}/{suffix or op_type}"]
        else:
            out = [f"{self.out_name}:{k}" for k in range(outputs)]
        return self.lo.emit(op_type, inputs, name=name, outputs=out, **attrs)

    def const_tensor(self, value: Any, dtype: Any = None, hint: str = "") -> str:
        return self.lo.const_tensor(value, dtype=dtype, hint=f"{self.out_name}_{hint or 'c'}")

    def fail(self, message: str) -> UnsupportedOpError:
        return UnsupportedOpError(f"{self.node.op_type}: {message}", path=self.lo.path, node=self.base)

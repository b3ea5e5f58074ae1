"""Model input and output metadata, seeded input generation, and checking feeds against a model."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from engine.errors import InputError

log = logging.getLogger(__name__)

Dim = int | str | None

#: Integer inputs (token ids, indices) default to this half-open range, safe for small vocabularies.
DEFAULT_INT_RANGE = (0, 8)


@dataclass(frozen=True)
class TensorSpec:
    """Name, element type and shape of one graph input or output.

    ``shape`` holds an int for a fixed dimension, the symbolic name (str) or None for a
    dynamic one.
    """

    name: str
    dtype: np.dtype
    shape: tuple[Dim, ...]

    @property
    def is_dynamic(self) -> bool:
        """True when any dimension is not a fixed int."""
        return any(not isinstance(d, int) for d in self.shape)

    def shape_text(self) -> str:
        """The shape as a person reads it: ``[batch, 3, 224, 224]``, ``?`` for unnamed dynamic dims."""
        return "[" + ", ".join("?" if d is None else str(d) for d in self.shape) + "]"

    def to_dict(self) -> dict:
        return {"name": self.name, "dtype": np.dtype(self.dtype).name, "shape": list(self.shape)}


def _value_info_spec(value: onnx.ValueInfoProto) -> TensorSpec:
    ttype = value.type.tensor_type
    try:
        dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(ttype.elem_type))
    except (KeyError, TypeError, ValueError):
        dtype = np.dtype(object)
    if ttype.HasField("shape"):
        dims: list[Dim] = []
        for d in ttype.shape.dim:
            if d.HasField("dim_value") and d.dim_value >= 0:
                dims.append(int(d.dim_value))
            elif d.HasField("dim_param") and d.dim_param:
                dims.append(d.dim_param)
            else:
                dims.append(None)
        shape = tuple(dims)
    else:
        shape = ()
    return TensorSpec(value.name, dtype, shape)


def input_specs(model: onnx.ModelProto) -> list[TensorSpec]:
    """The graph inputs a caller must feed: graph inputs that are not initializers, in order."""
    inits = {t.name for t in model.graph.initializer}
    return [_value_info_spec(v) for v in model.graph.input if v.name not in inits]


def output_specs(model: onnx.ModelProto) -> list[TensorSpec]:
    """The graph outputs, in graph order."""
    return [_value_info_spec(v) for v in model.graph.output]


Shape = Sequence[int | None]


def resolve_shape(
    spec: TensorSpec,
    *,
    batch: int | None = None,
    dims: Mapping[str, int] | None = None,
    shape: Shape | None = None,
) -> tuple[int, ...]:
    """A concrete shape for ``spec``.

    Each dynamic dimension takes, in order of precedence: ``batch`` (the first dimension
    only), the value ``shape`` gives at that axis, the value ``dims`` gives its name, else 1
    (see :func:`unresolved_dims` to say so).

    Raises:
        InputError: ``batch`` is given but the input's first dimension is fixed to another
            value, or ``shape`` does not fit the input (rank, a fixed dimension, a value < 1).
    """
    dims = dims or {}
    if shape is not None:
        check_shape(spec, shape)
    out: list[int] = []
    for i, d in enumerate(spec.shape):
        given = shape[i] if shape is not None else None
        if isinstance(d, int):
            if i == 0 and batch is not None and d != batch and len(spec.shape) > 1:
                raise InputError(
                    f"input {spec.name!r} has a fixed batch dimension of {d}, cannot run batch {batch}",
                    hint="re-export the model with a dynamic batch dimension, or run the model's batch",
                )
            out.append(d)
        elif i == 0 and batch is not None:
            out.append(int(batch))
        elif given is not None:
            out.append(int(given))
        elif isinstance(d, str) and d in dims:
            out.append(int(dims[d]))
        else:
            out.append(1)
    return tuple(out)


def check_shape(spec: TensorSpec, shape: Shape) -> None:
    """Check a chosen shape (None where not chosen) against ``spec``'s declared one.

    Raises:
        InputError: wrong rank, a fixed dimension given another value, or a value below 1.
    """
    if spec.shape and len(shape) != len(spec.shape):
        raise InputError(
            f"shape {format_shape(shape)} for input {spec.name!r} has rank {len(shape)}, "
            f"the model expects rank {len(spec.shape)} {spec.shape_text()}"
        )
    for axis, (declared, given) in enumerate(zip(spec.shape, shape)):
        if given is None:
            continue
        if int(given) < 1:
            raise InputError(f"input {spec.name!r} axis {axis}: a dimension must be at least 1, not {given}")
        if isinstance(declared, int) and int(given) != declared:
            raise InputError(
                f"input {spec.name!r} axis {axis} is fixed to {declared} by the model, not {given} "
                f"(declared {spec.shape_text()})"
            )


def unresolved_dims(
    specs: Sequence[TensorSpec],
    *,
    batch: int | None = None,
    dims: Mapping[str, int] | None = None,
    shapes: Mapping[str, Shape] | None = None,
) -> list[str]:
    """The dynamic dimensions nothing gives a value for (they would run at 1), as ``x[2] (H)``."""
    dims = dims or {}
    shapes = shapes or {}
    out = []
    for spec in specs:
        shape = shapes.get(spec.name)
        for i, d in enumerate(spec.shape):
            if isinstance(d, int) or (i == 0 and batch is not None):
                continue
            if shape is not None and i < len(shape) and shape[i] is not None:
                continue
            if isinstance(d, str) and d in dims:
                continue
            out.append(f"{spec.name}[{i}]" + (f" ({d})" if isinstance(d, str) else ""))
    return out


def format_shape(shape: Shape) -> str:
    """``1x3x224x224``; ``?`` for a dimension not chosen; ``scalar`` for rank 0."""
    return "x".join("?" if d is None else str(d) for d in shape) or "scalar"


def describe_shapes(shapes: Mapping[str, Shape]) -> str:
    """``x 1x3x224x224, mask 1x16`` for a status line or a report."""
    return ", ".join(f"{name} {format_shape(shape)}" for name, shape in shapes.items())


def parse_shape_arg(text: str) -> tuple[str, tuple[int, ...]]:
    """``"x=1x3x224x224"`` (or ``x:1,3,224,224``) -> ``("x", (1, 3, 224, 224))``.

    Raises:
        InputError: not ``NAME=DIMS`` or a dimension that is not a whole number >= 1.
    """
    sep = "=" if "=" in text else ":"
    name, _, dims_text = text.rpartition(sep)
    name = name.strip()
    parts = [p.strip() for p in dims_text.replace(",", "x").split("x")] if dims_text.strip() else []
    if not name or not all(p.isdigit() and int(p) >= 1 for p in parts):
        raise InputError(f"shape {text!r} is not NAME=DIMS with whole dimensions >= 1, e.g. x=1x3x224x224")
    return name, tuple(int(p) for p in parts)


def check_shapes(specs: Sequence[TensorSpec], shapes: Mapping[str, Shape]) -> None:
    """Check chosen shapes by input name: every name is an input, every shape fits it.

    Raises:
        InputError: an unknown input name, or a shape that does not fit (see :func:`check_shape`).
    """
    by_name = {s.name: s for s in specs}
    for name, shape in shapes.items():
        if name not in by_name:
            raise InputError(f"unknown input {name!r}; the model's inputs are: {', '.join(by_name) or '(none)'}")
        check_shape(by_name[name], shape)


def make_feeds(
    specs: Sequence[TensorSpec],
    *,
    seed: int = 0,
    batch: int | None = None,
    dims: Mapping[str, int] | None = None,
    int_range: tuple[int, int] = DEFAULT_INT_RANGE,
    shapes: Mapping[str, Shape] | None = None,
) -> dict[str, np.ndarray]:
    """Seeded random inputs for ``specs``: the same seed gives the same arrays on any machine.

    Floats are drawn from N(0, 1), integers uniformly from ``int_range`` (half-open),
    booleans with p=0.5. Dynamic dimensions come from ``batch`` (the first one), ``shapes``
    (a shape by input name, None where not chosen), ``dims`` by name, else 1.

    Raises:
        InputError: an input's element type cannot be generated (strings, complex), or a
            shape in ``shapes`` does not fit its input or names no input.
    """
    shapes = dict(shapes or {})
    check_shapes(specs, shapes)
    rng = np.random.default_rng(seed)
    feeds: dict[str, np.ndarray] = {}
    lo, hi = int_range
    for spec in specs:
        shape = resolve_shape(spec, batch=batch, dims=dims, shape=shapes.get(spec.name))
        dtype = np.dtype(spec.dtype)
        if dtype.kind == "f" or dtype.name in ("bfloat16",) or "float8" in dtype.name:
            arr = rng.standard_normal(shape, dtype=np.float32).astype(dtype)
        elif dtype.kind in "iu":
            info = np.iinfo(dtype)
            arr = rng.integers(max(lo, info.min), min(hi, int(info.max) + 1), size=shape).astype(dtype)
        elif dtype.kind == "b":
            arr = rng.random(shape) < 0.5
        else:
            raise InputError(
                f"cannot generate random data for input {spec.name!r} of type {dtype}",
                hint="give the inputs in a .npz file",
            )
        feeds[spec.name] = np.ascontiguousarray(arr)
    return feeds


def load_feeds(path: str | Path, specs: Sequence[TensorSpec]) -> dict[str, np.ndarray]:
    """Read inputs from ``.npy`` (a model with one input) or ``.npz`` (by name, or arr_0.. in order).

    Raises:
        InputError: the file cannot be read, or its arrays do not fit the model's inputs.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("no such inputs file", path=path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            arr = np.load(path, allow_pickle=False)
            if len(specs) != 1:
                raise InputError(
                    f"a .npy file holds one array but the model has {len(specs)} inputs "
                    f"({', '.join(s.name for s in specs)})",
                    path=path,
                    hint="save the inputs by name with numpy.savez",
                )
            feeds = {specs[0].name: arr}
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
            feeds = _match_npz(arrays, specs, path)
        else:
            raise InputError(f"inputs must be .npy or .npz, not {suffix or 'a file without suffix'}", path=path)
    except InputError:
        raise
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read inputs: {exc}", path=path) from exc
    check_feeds(feeds, specs, source=path)
    return feeds


def _match_npz(arrays: dict[str, np.ndarray], specs: Sequence[TensorSpec], path: Path) -> dict[str, np.ndarray]:
    names = {s.name for s in specs}
    if any(k in names for k in arrays):
        return arrays
    positional = [f"arr_{i}" for i in range(len(arrays))]
    if list(arrays) == positional or sorted(arrays) == sorted(positional):
        if len(arrays) != len(specs):
            raise InputError(
                f"file has {len(arrays)} unnamed arrays but the model has {len(specs)} inputs "
                f"({', '.join(s.name for s in specs)})",
                path=path,
            )
        return {spec.name: arrays[f"arr_{i}"] for i, spec in enumerate(specs)}
    return arrays  # names that match nothing: check_feeds reports them


def check_feeds(
    feeds: Mapping[str, np.ndarray], specs: Sequence[TensorSpec], *, source: str | Path | None = None
) -> None:
    """Check feeds against the model's inputs; the first problem found raises.

    A symbolic dimension must take the same value in every input that names it.

    Raises:
        InputError: naming the input and the mismatch (missing name, unknown name, wrong
            dtype, wrong rank or shape).
    """
    known = [s.name for s in specs]
    unknown = [k for k in feeds if k not in known]
    if unknown:
        raise InputError(
            f"unknown input {unknown[0]!r}; the model's inputs are: {', '.join(known) or '(none)'}", path=source
        )
    bound: dict[str, tuple[int, str]] = {}
    for spec in specs:
        if spec.name not in feeds:
            raise InputError(
                f"missing input {spec.name!r} ({np.dtype(spec.dtype).name} {spec.shape_text()})", path=source
            )
        arr = feeds[spec.name]
        if not isinstance(arr, np.ndarray):
            raise InputError(f"input {spec.name!r} is a {type(arr).__name__}, not a numpy array", path=source)
        want = np.dtype(spec.dtype)
        if want != np.dtype(object) and arr.dtype != want:
            raise InputError(
                f"input {spec.name!r} has dtype {arr.dtype.name}, the model expects {want.name}",
                path=source,
                hint=f"cast it with .astype(numpy.{want.name})",
            )
        if spec.shape and arr.ndim != len(spec.shape):
            raise InputError(
                f"input {spec.name!r} has rank {arr.ndim} (shape {list(arr.shape)}), "
                f"the model expects rank {len(spec.shape)} {spec.shape_text()}",
                path=source,
            )
        for axis, (want_dim, got) in enumerate(zip(spec.shape, arr.shape)):
            if isinstance(want_dim, int) and want_dim != got:
                raise InputError(
                    f"input {spec.name!r} has shape {list(arr.shape)}, the model expects {spec.shape_text()} "
                    f"(axis {axis} is {got}, not {want_dim})",
                    path=source,
                )
            if isinstance(want_dim, str):
                if want_dim in bound and bound[want_dim][0] != got:
                    other_value, other_name = bound[want_dim]
                    raise InputError(
                        f"input {spec.name!r} gives dimension {want_dim!r} = {got}, but input {other_name!r} "
                        f"gave {other_value}",
                        path=source,
                    )
                bound.setdefault(want_dim, (int(got), spec.name))

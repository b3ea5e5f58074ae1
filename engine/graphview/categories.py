"""Operator categories and their colours, for ONNX and MindSpore op names alike."""

from __future__ import annotations

import re

CONV = "conv"
MATMUL = "matmul"
ACTIVATION = "activation"
NORMALIZATION = "normalization"
POOLING = "pooling"
ELEMENTWISE = "elementwise"
SHAPE = "shape"
TENSOR = "tensor"
REDUCTION = "reduction"
CONSTANT = "constant"
IO = "io"
OTHER = "other"

CATEGORIES: tuple[str, ...] = (
    CONV, MATMUL, ACTIVATION, NORMALIZATION, POOLING, ELEMENTWISE,
    SHAPE, TENSOR, REDUCTION, CONSTANT, IO, OTHER,
)

# Mid-tone fills that read on both light and dark backgrounds; the studio picks black or
# white text per fill by luminance (see :func:`text_on`).
CATEGORY_COLORS: dict[str, str] = {
    CONV: "#3b7dd8",
    MATMUL: "#2f9e9e",
    ACTIVATION: "#d9822b",
    NORMALIZATION: "#5a9e3a",
    POOLING: "#8e6cc9",
    ELEMENTWISE: "#b8a24a",
    SHAPE: "#8a8f98",
    TENSOR: "#a0785a",
    REDUCTION: "#c75a8a",
    CONSTANT: "#b0b0b0",
    IO: "#4a4f57",
    OTHER: "#9aa1ab",
}

CATEGORY_LABELS: dict[str, str] = {
    CONV: "Convolution",
    MATMUL: "MatMul / Linear",
    ACTIVATION: "Activation",
    NORMALIZATION: "Normalization",
    POOLING: "Pooling",
    ELEMENTWISE: "Elementwise",
    SHAPE: "Shape / Reshape",
    TENSOR: "Tensor / Indexing",
    REDUCTION: "Reduction",
    CONSTANT: "Constant / Plumbing",
    IO: "Input / Output",
    OTHER: "Other",
}

# Keys are op names lower-cased with "_" removed, so "Conv2D", "conv2d" and
# "Conv2DBackpropInput" (by prefix rules below) all land where a person expects.
_TABLE: dict[str, tuple[str, ...]] = {
    CONV: (
        "conv", "convtranspose", "convinteger", "qlinearconv", "deformconv",
        "conv2d", "conv3d", "conv1d", "conv2dtranspose", "conv3dtranspose", "conv2dbackpropinput",
        "depthwiseconv2dnative",
    ),
    MATMUL: (
        "matmul", "gemm", "matmulinteger", "qlinearmatmul", "einsum", "batchmatmul", "dense",
        "linear", "fullyconnected", "attention", "multiheadattention",
    ),
    ACTIVATION: (
        "relu", "relu6", "leakyrelu", "prelu", "sigmoid", "hardsigmoid", "tanh", "softmax",
        "logsoftmax", "elu", "selu", "celu", "gelu", "fastgelu", "softplus", "softsign",
        "hardswish", "hswish", "hsigmoid", "mish", "silu", "swish", "thresholdedrelu",
        "clip", "shrink", "hardtanh", "erf",
    ),
    NORMALIZATION: (
        "batchnormalization", "batchnorm", "fusedbatchnorm", "instancenormalization",
        "instancenorm", "layernormalization", "layernorm", "groupnormalization", "groupnorm",
        "lpnormalization", "lrn", "meanvariancenormalization", "l2normalize", "rmsnorm",
        "simplifiedlayernormalization", "skiplayernormalization", "dropout",
    ),
    POOLING: (
        "maxpool", "averagepool", "avgpool", "globalaveragepool", "globalmaxpool",
        "lppool", "globallppool", "maxunpool", "maxroipool", "roialign", "adaptiveavgpool2d",
        "adaptivemaxpool2d", "maxpoolwithargmax", "avgpool3d", "maxpool3d",
    ),
    ELEMENTWISE: (
        "add", "sub", "mul", "div", "pow", "sqrt", "rsqrt", "exp", "log", "abs", "neg",
        "reciprocal", "floor", "ceil", "round", "sign", "sin", "cos", "tan", "min", "max",
        "minimum", "maximum", "mod", "sum", "mean", "equal", "greater", "less", "greaterequal",
        "lessequal", "notequal", "and", "or", "xor", "not", "logicaland", "logicalor",
        "logicalnot", "where", "select", "addn", "square", "realdiv", "floordiv", "floormod",
        "cast", "biasadd", "isnan", "isinf", "bitshift", "squareddifference", "tensoradd", "assign",
    ),
    SHAPE: (
        "reshape", "flatten", "squeeze", "unsqueeze", "expanddims", "transpose", "shape",
        "size", "expand", "broadcastto", "tile", "concat", "split", "pad", "resize",
        "upsample", "depthtospace", "spacetodepth", "identity", "stack", "unstack", "pack",
        "unpack", "tensorshape", "dynamicshape", "resizebilinear", "resizenearestneighbor",
        "spacetobatch", "batchtospace",
    ),
    TENSOR: (
        "gather", "gatherelements", "gathernd", "scatter", "scatterelements", "scatternd",
        "slice", "stridedslice", "onehot", "topk", "argmax", "argmin", "nonzero", "range",
        "cumsum", "compress", "trilu", "unique", "gatherv2", "sparsegatherv2", "embedding",
        "embeddinglookup", "fill", "fills", "zeros", "ones", "zeroslike", "oneslike",
        "constantofshape", "eyelike", "randomnormal", "randomuniform", "sort", "reversev2",
        "tensorscatterupdate", "masked_fill", "maskedfill",
    ),
    REDUCTION: (
        "reducemean", "reducesum", "reducemax", "reducemin", "reduceprod", "reducel1",
        "reducel2", "reducelogsum", "reducelogsumexp", "reducesumsquare", "reduceall",
        "reduceany", "argmaxwithvalue", "argminwithvalue", "norm",
    ),
    CONSTANT: (
        "constant", "load", "updatestate", "depend", "maketuple", "tuplegetitem",
        "listgetitem", "makelist", "return", "stopgradient", "sequenceconstruct",
        "sequenceat", "optional", "optionalgetelement",
    ),
    IO: ("input", "output", "parameter"),
}

_LOOKUP: dict[str, str] = {op: cat for cat, ops in _TABLE.items() for op in ops}

# Fallbacks by substring, checked in order, for ops the table does not list.
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"conv"), CONV),
    (re.compile(r"matmul|gemm|dense"), MATMUL),
    (re.compile(r"norm"), NORMALIZATION),
    (re.compile(r"pool"), POOLING),
    (re.compile(r"^reduce"), REDUCTION),
    (re.compile(r"relu|gelu|sigmoid|tanh|softmax|swish"), ACTIVATION),
    (re.compile(r"reshape|transpose|squeeze|concat|split"), SHAPE),
    (re.compile(r"gather|scatter|slice"), TENSOR),
)


def _key(op_type: str) -> str:
    """Normalise an op name: drop a MindIR ``REF::`` prefix and ``:N`` suffix, a domain, case."""
    name = op_type
    if name.startswith("REF::"):
        name = name[5:]
    name = name.split(":", 1)[0]
    name = name.rsplit(".", 1)[-1]
    return name.replace("_", "").lower()


def category_of(op_type: str) -> str:
    """The display category of an operator name (ONNX or MindSpore); ``"other"`` if unknown.

    Args:
        op_type: an op name such as ``"Conv"``, ``"Conv2D"``, ``"REF::BiasAdd:7"``.
    """
    key = _key(op_type)
    found = _LOOKUP.get(key)
    if found is not None:
        return found
    for pattern, category in _PATTERNS:
        if pattern.search(key):
            return category
    return OTHER


def color_of(category: str) -> str:
    """The fill colour (``#rrggbb``) of a category."""
    return CATEGORY_COLORS.get(category, CATEGORY_COLORS[OTHER])


def text_on(fill: str) -> str:
    """Black or white, whichever reads better on ``fill`` (``#rrggbb``), by relative luminance."""
    r, g, b = (int(fill[i:i + 2], 16) / 255.0 for i in (1, 3, 5))
    lum = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return "#000000" if lum > 0.45 else "#ffffff"


def heat_color(t: float) -> str:
    """A colour on a blue-yellow-red ramp for ``t`` in [0, 1] (clamped), for heat colouring."""
    t = 0.0 if t != t else min(1.0, max(0.0, t))  # NaN -> 0
    stops = ((0.0, (49, 54, 149)), (0.25, (69, 117, 180)), (0.5, (254, 224, 144)),
             (0.75, (244, 109, 67)), (1.0, (165, 0, 38)))
    for (t0, c0), (t1, c1) in zip(stops, stops[1:]):
        if t <= t1:
            f = (t - t0) / (t1 - t0) if t1 > t0 else 0.0
            rgb = tuple(round(a + (b - a) * f) for a, b in zip(c0, c1))
            return "#{:02x}{:02x}{:02x}".format(*rgb)
    return "#a50026"


#: Fill of a source node that could not be lowered to ONNX (an error colour, in every theme).
UNLOWERED_COLOR = "#d93025"


def node_color(category: str, lowering: str = "") -> str:
    """A node's fill: the error colour when its lowering failed, else its category's colour."""
    return UNLOWERED_COLOR if lowering == "failed" else color_of(category)

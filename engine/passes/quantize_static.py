"""Static int8 quantisation: weights and activations int8, activation ranges from calibration.

Rewrite rules:
    1. The model is brought to opset 13 when older (per-channel QDQ needs it) and
       prepared with ``quant_pre_process`` (symbolic shape inference, ORT's basic
       optimisation).
    2. Calibration runs the model on samples (user data, or seeded random inputs from the
       input metadata) and records each activation's range with ``minmax``, ``entropy``
       (KL divergence) or ``percentile`` (99.999th by default).
    3. In ``qdq`` format every quantizable op (Conv, Gemm, MatMul, Add, pooling, ...) gets
       QuantizeLinear/DequantizeLinear pairs around it (ONNX Runtime fuses them into
       integer kernels); in ``qoperator`` format ops are replaced by QLinearConv,
       QLinearMatMul and the like. Weights are int8, per channel by default; activations
       uint8 (u8s8, the fast path of x86 VNNI kernels) or int8.
    4. ``SpaceToDepth`` nodes stay in float (ONNX Runtime's CPU kernel is float-only, so
       quantizing one only adds a DQ/Q pair); the ``stem_space_to_depth`` pass that the
       int8-static preset runs first leaves one before the stem Conv, and the Q then
       sits on its output.

Library: ``onnxruntime.quantization.quantize_static`` with ``quant_pre_process`` does all
of it; the calibration reader and the samples are ours. ``reduce_range`` is off by
default (7-bit weights only help CPUs without VNNI).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import onnx

from engine.errors import EngineError
from engine.passes import _graph, _ort_quant
from engine.passes.base import Pass, PassResult
from engine.passes.opset import at_least

log = logging.getLogger(__name__)

METHODS = ("minmax", "entropy", "percentile")
FORMATS = ("qdq", "qoperator")


class QuantizeStatic(Pass):
    """Static (calibrated) int8 quantisation with ONNX Runtime's quantizer.

    Args:
        calibration: samples: an ``.npz`` path, a mapping of stacked arrays, or a list of
            feed dicts; None draws ``samples`` seeded random inputs.
        method: "minmax", "entropy" or "percentile".
        quant_format: "qdq" or "qoperator".
        per_channel: per-channel weight scales.
        reduce_range: 7-bit weights, for CPUs without VNNI.
        activation_type: "uint8" or "int8".
        samples: random calibration samples when no data is given.
        seed: seed of the first random sample.
        percentile: the percentile kept by the "percentile" method.
        op_types: op types to quantize (None: every op the quantizer knows).
        exclude_nodes: node names to keep in float.
        preprocess: run ``quant_pre_process`` first.
    """

    name = "quantize_static"
    summary = "static int8 (QDQ or QOperator) calibrated with MinMax / Entropy / Percentile"
    precision = "int8"

    def __init__(self, calibration: object = None, method: str = "minmax", quant_format: str = "qdq",
                 per_channel: bool = True, reduce_range: bool = False, activation_type: str = "uint8",
                 samples: int = 8, seed: int = 0, percentile: float = 99.999,
                 op_types: Sequence[str] | None = None, exclude_nodes: Sequence[str] = (),
                 preprocess: bool = True) -> None:
        if method not in METHODS:
            raise EngineError(f"unknown calibration method {method!r}", hint="one of " + ", ".join(METHODS))
        if quant_format not in FORMATS:
            raise EngineError(f"unknown quantization format {quant_format!r}", hint="one of " + ", ".join(FORMATS))
        if activation_type not in ("uint8", "int8"):
            raise EngineError(f"activation type must be uint8 or int8, not {activation_type!r}")
        self.calibration = calibration
        self.method = method
        self.quant_format = quant_format
        self.per_channel = per_channel
        self.reduce_range = reduce_range
        self.activation_type = activation_type
        self.samples = samples
        self.seed = seed
        self.percentile = percentile
        self.op_types = list(op_types) if op_types else None
        self.exclude_nodes = list(exclude_nodes)
        self.preprocess = preprocess

    def options(self) -> dict:
        opts = super().options()
        if not isinstance(opts.get("calibration"), (str, type(None))):
            opts["calibration"] = f"<{type(self.calibration).__name__}>"
        return opts

    def call(self, model: onnx.ModelProto) -> PassResult:
        from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

        feeds = _ort_quant.calibration_samples(self.calibration, model, samples=self.samples, seed=self.seed)
        if not feeds:
            raise EngineError("no calibration samples", hint="give at least one sample")
        method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
                  "percentile": CalibrationMethod.Percentile}[self.method]
        extra = {"CalibPercentile": self.percentile} if self.method == "percentile" else {}
        if self.method in ("entropy", "percentile"):
            extra["CalibTensorRangeSymmetric"] = False
        work = _graph.copy_model(at_least(model, 13))
        with _ort_quant.scratch() as tmp:
            if self.preprocess:
                work = _ort_quant.preprocess(work, tmp)
            excluded = self.exclude_nodes + _float_only_nodes(work)
            src, dst = _ort_quant.save(work, tmp / "in.onnx"), tmp / "out.onnx"
            try:
                with _ort_quant.quiet_quantizer():
                    quantize_static(
                        str(src), str(dst), _ort_quant.data_reader(feeds),
                        quant_format=QuantFormat.QDQ if self.quant_format == "qdq" else QuantFormat.QOperator,
                        op_types_to_quantize=self.op_types, per_channel=self.per_channel,
                        reduce_range=self.reduce_range,
                        activation_type=QuantType.QUInt8 if self.activation_type == "uint8" else QuantType.QInt8,
                        weight_type=QuantType.QInt8, nodes_to_exclude=excluded or None,
                        calibrate_method=method, extra_options=extra,
                    )
            except Exception as exc:
                raise EngineError(f"static quantization failed: {str(exc).splitlines()[0][:240]}") from exc
            out = _ort_quant.load(dst)
        counts = _graph.op_counts(out)
        q = counts.get("QuantizeLinear", 0) + sum(v for k, v in counts.items() if k.startswith("QLinear"))
        notes = [f"{len(feeds)} calibration samples ({self.method}), {self.quant_format}, "
                 f"per_channel={self.per_channel}, reduce_range={self.reduce_range}, activations {self.activation_type}",
                 f"{q} quantize/QLinear nodes"]
        return PassResult(out, bool(q), notes)


#: Ops ONNX Runtime's CPU provider runs in float only: quantizing them adds a DQ/Q pair.
_FLOAT_ONLY = {"SpaceToDepth"}


def _float_only_nodes(model: onnx.ModelProto) -> list[str]:
    """Names of the nodes to keep in float (unnamed ones are named here, in place)."""
    new_name = None
    names = []
    for node in model.graph.node:
        if node.op_type in _FLOAT_ONLY and node.domain in ("", "ai.onnx"):
            if not node.name:
                new_name = new_name or _graph.NameGen(model)
                node.name = new_name(node.op_type)
            names.append(node.name)
    return names

"""Dynamic int8 quantisation: int8 weights, activations quantised per run from their range.

Rewrite rules:
    1. ``Gemm`` with a constant weight (alpha = beta = 1, no transA) becomes ``MatMul`` +
       ``Add`` so rule 2 reaches it (the quantizer has no Gemm rule).
    2. ``MatMul`` (and ``Gather``, ``Attention``, ``LSTM``; ``Conv`` only if asked, since
       ``ConvInteger`` is slow on most CPUs) with constant weights becomes
       ``DynamicQuantizeLinear`` + ``MatMulInteger``/``ConvInteger`` with int8 weights,
       per channel by default; ONNX Runtime fuses these into ``DynamicQuantizeMatMul``.
    3. The model is first brought to opset 13 when older (per-channel needs it) and
       prepared with ``quant_pre_process`` (symbolic shape inference).

Library: ``onnxruntime.quantization.quantize_dynamic`` (and ``quant_pre_process``) do 2-3;
rule 1 is hand-written. ``reduce_range`` is off by default: it exists for CPUs without
VNNI, where u8s8 products can saturate; on a VNNI (or AVX-512) CPU full range is exact.
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

DEFAULT_OPS = ("MatMul", "Gather", "Attention", "LSTM", "EmbedLayerNormalization")


class QuantizeDynamic(Pass):
    """Dynamic int8 quantisation with ONNX Runtime's quantizer.

    Args:
        per_channel: per-channel weight scales.
        reduce_range: 7-bit weights, for CPUs without VNNI.
        op_types: op types to quantize (default :data:`DEFAULT_OPS`).
        include_conv: also quantize Conv (``ConvInteger``).
    """

    name = "quantize_dynamic"
    summary = "dynamic int8 (MatMul/Gemm/Gather): int8 weights, activations quantised per run"
    precision = "int8"

    def __init__(self, per_channel: bool = True, reduce_range: bool = False,
                 op_types: Sequence[str] | None = None, include_conv: bool = False) -> None:
        self.per_channel = per_channel
        self.reduce_range = reduce_range
        self.op_types = list(op_types) if op_types else list(DEFAULT_OPS)
        self.include_conv = include_conv

    def call(self, model: onnx.ModelProto) -> PassResult:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        work = _graph.copy_model(at_least(model, 13))
        gemms = _ort_quant.gemm_to_matmul_add(work)
        ops = self.op_types + (["Conv"] if self.include_conv else [])
        with _ort_quant.scratch() as tmp:
            work = _ort_quant.preprocess(work, tmp)
            src, dst = _ort_quant.save(work, tmp / "in.onnx"), tmp / "out.onnx"
            try:
                with _ort_quant.quiet_quantizer():
                    quantize_dynamic(str(src), str(dst), op_types_to_quantize=ops, per_channel=self.per_channel,
                                     reduce_range=self.reduce_range, weight_type=QuantType.QInt8,
                                     extra_options={"MatMulConstBOnly": True})
            except Exception as exc:
                raise EngineError(f"dynamic quantization failed: {str(exc).splitlines()[0][:240]}") from exc
            out = _ort_quant.load(dst)
        counts = _graph.op_counts(out)
        quantized = sum(counts.get(k, 0) for k in ("MatMulInteger", "ConvInteger", "DynamicQuantizeLinear"))
        notes = [f"{gemms} Gemm -> MatMul+Add"] if gemms else []
        notes.append(f"{counts.get('DynamicQuantizeLinear', 0)} DynamicQuantizeLinear, "
                     f"{counts.get('MatMulInteger', 0)} MatMulInteger, {counts.get('ConvInteger', 0)} ConvInteger")
        return PassResult(out, bool(quantized), notes)

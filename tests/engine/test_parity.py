"""Output parity: statistics, dtype-aware tolerances, min passing atol, NaN/Inf, differential vs numpy and ORT."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.errors import InputError
from engine.validate import compare_outputs, default_tolerance
from engine.validate.tolerances import graph_precision


def _pair(seed: int = 0, shape=(4, 16), noise: float = 1e-3):
    rng = np.random.default_rng(seed)
    ref = rng.standard_normal(shape).astype(np.float32)
    cand = (ref + noise * rng.standard_normal(shape)).astype(np.float32)
    return ref, cand


def test_identical_outputs_pass_with_zero_error():
    ref, _ = _pair()
    report = compare_outputs({"y": ref}, {"y": ref.copy()})
    out = report.outputs[0]
    assert report and report.passed
    assert out.max_abs == 0.0 and out.mean_abs == 0.0 and out.min_passing_atol == 0.0
    assert out.cosine == pytest.approx(1.0)
    assert report.to_dict()["passed"] is True


def test_statistics_match_numpy():
    ref, cand = _pair(noise=1e-2)
    out = compare_outputs({"y": ref}, {"y": cand}).outputs[0]
    diff = np.abs(cand.astype(np.float64) - ref.astype(np.float64))
    assert out.max_abs == pytest.approx(diff.max())
    assert out.mean_abs == pytest.approx(diff.mean())
    assert out.max_rel == pytest.approx((diff / np.abs(ref.astype(np.float64))).max())
    r, c = ref.ravel().astype(np.float64), cand.ravel().astype(np.float64)
    cos = np.dot(r, c) / (np.linalg.norm(r) * np.linalg.norm(c))
    assert out.cosine == pytest.approx(cos, abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_min_passing_atol_is_the_threshold(seed):
    ref, cand = _pair(seed, noise=1e-3)
    rtol = 1e-4
    first = compare_outputs({"y": ref}, {"y": cand}, rtol=rtol).outputs[0]
    assert not first.passed
    atol = first.min_passing_atol
    assert atol > 0
    assert compare_outputs({"y": ref}, {"y": cand}, rtol=rtol, atol=atol).passed
    below = np.nextafter(atol, 0.0)
    assert not compare_outputs({"y": ref}, {"y": cand}, rtol=rtol, atol=below).passed
    # Differential against numpy's own rule, away from the rounding edge.
    assert np.allclose(cand, ref, rtol=rtol, atol=atol * (1 + 1e-9))
    assert not np.allclose(cand, ref, rtol=rtol, atol=atol * (1 - 1e-6))


def test_mismatch_fraction_counts_elements_outside_tolerance():
    ref = np.zeros(10, np.float32)
    cand = ref.copy()
    cand[:3] = 1.0
    out = compare_outputs({"y": ref}, {"y": cand}).outputs[0]
    assert out.mismatches == 3 and out.mismatch_fraction == pytest.approx(0.3)
    assert out.worst_index == (0,)


def test_default_tolerances_are_dtype_aware():
    fp64, fp32, fp16, bf16, q8 = (default_tolerance(d) for d in (np.float64, np.float32, np.float16, "bf16", "int8"))
    for tighter, looser in ((fp64, fp32), (fp32, fp16), (fp16, bf16), (bf16, q8)):
        assert tighter[0] < looser[0] and tighter[1] <= looser[1]
    assert default_tolerance(np.int64) == (0.0, 0.0)
    import ml_dtypes

    assert default_tolerance(np.dtype(ml_dtypes.bfloat16)) == bf16


def test_fp16_candidate_is_judged_with_fp16_tolerance():
    ref, _ = _pair(noise=0)
    cand16 = ref.astype(np.float16)
    as32 = cand16.astype(np.float32)
    # The rounding error of fp16 fails fp32 tolerances ...
    assert not compare_outputs({"y": ref}, {"y": as32}).passed
    # ... but an fp16 output, or an fp32 output of an fp16 graph, is judged at fp16.
    out = compare_outputs({"y": ref}, {"y": cand16}).outputs[0]
    assert out.passed and (out.rtol, out.atol) == default_tolerance(np.float16) and out.precision == "float16"
    assert compare_outputs({"y": ref}, {"y": as32}, precision="float16").passed
    # A wrong fp16 result still fails.
    assert not compare_outputs({"y": ref}, {"y": (cand16 * 1.1).astype(np.float16)}).passed


def test_explicit_tolerance_overrides_default():
    ref, cand = _pair(noise=1e-3)
    out = compare_outputs({"y": ref}, {"y": cand}, rtol=0.5, atol=0.5).outputs[0]
    assert out.passed and out.rtol == 0.5 and out.atol == 0.5


def test_integer_outputs_compare_exactly():
    ref = np.array([1, 2, 3], np.int64)
    assert compare_outputs({"i": ref}, {"i": ref.copy()}).passed
    report = compare_outputs({"i": ref}, {"i": np.array([1, 2, 4], np.int64)})
    assert not report.passed and report.outputs[0].max_abs == 1.0


def test_nan_in_candidate_where_reference_is_finite_fails():
    ref = np.array([1.0, 2.0, 3.0], np.float32)
    cand = np.array([1.0, np.nan, 3.0], np.float32)
    out = compare_outputs({"y": ref}, {"y": cand}, atol=1e6, rtol=1e6).outputs[0]
    assert not out.passed
    assert out.nonfinite_mismatches == 1 and math.isinf(out.min_passing_atol) and math.isinf(out.max_abs)
    assert out.to_dict()["max_abs"] is None  # JSON-safe


def test_matching_nan_and_inf_pass_and_opposite_inf_fails():
    ref = np.array([np.nan, np.inf, -np.inf, 1.0], np.float32)
    assert compare_outputs({"y": ref}, {"y": ref.copy()}).passed
    cand = ref.copy()
    cand[1] = -np.inf
    assert not compare_outputs({"y": ref}, {"y": cand}).passed


def test_different_names_or_shapes_raise_input_error():
    a = np.zeros((2, 3), np.float32)
    with pytest.raises(InputError, match="missing from candidate: 'y'"):
        compare_outputs({"y": a}, {"z": a})
    with pytest.raises(InputError, match=r"shape \[3, 2\]"):
        compare_outputs({"y": a}, {"y": a.reshape(3, 2)})


def test_empty_outputs_pass():
    a = np.zeros((0, 3), np.float32)
    assert compare_outputs({"y": a}, {"y": a}).passed


def test_graph_precision_reads_initializers_and_casts():
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    node = helper.make_node("Cast", ["x"], ["y"], to=TensorProto.FLOAT16)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT16, [2])])
    assert graph_precision(helper.make_model(graph)) == "float16"
    graph32 = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                                [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                                [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
                                initializer=[numpy_helper.from_array(np.zeros(2, np.float32), "w")])
    assert graph_precision(helper.make_model(graph32)) == "float32"
    assert onnx.TensorProto.FLOAT16 == 10  # the table in tolerances.py relies on these numbers


def test_ort_and_reference_evaluator_agree_on_lenet5(lenet5):
    """Differential: two independent runtimes give lenet5 outputs within fp32 tolerance."""
    import onnx
    import onnxruntime as ort
    from onnx.reference import ReferenceEvaluator

    proto = onnx.load(str(lenet5.onnx))
    feeds = {"x": lenet5.inputs()[0]}
    a = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    b = ReferenceEvaluator(proto).run(None, feeds)[0]
    report = compare_outputs({"12": a}, {"12": b})
    assert report.passed
    assert report.outputs[0].max_abs == pytest.approx(float(np.abs(a - b).max()))
    # And both against MindSpore's own output.
    assert compare_outputs({"12": lenet5.expected()[0]}, {"12": a}).passed

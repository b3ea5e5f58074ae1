"""Copy a fixed sample of ONNX's node tests into tests/data/onnx_node_sample/ (the sample test's data).

Usage: python scripts/make_onnx_node_sample.py   (needs corpora/onnx_node: benchmarks/onnx_suite.py writes it)

Each entry of SAMPLE names a node test and the outcome our ONNX -> MindIR path must give
("match", or "refused" with a phrase the one-line refusal contains). A name ending in
``_frozen`` is the test with its inputs after the first turned into initializers (the
test's own values): ONNX passes Resize scales, Pad pads or TopK's k as graph inputs, which
a static MindIR graph cannot take, while real exports give them as constants. Two cases of
our own (written with ONNX Runtime's outputs as the reference) cover Flatten(axis=rank)
and Softmax over a row that is all -inf.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpora" / "onnx_node"
DEST = ROOT / "tests" / "data" / "onnx_node_sample"

M = {"outcome": "match"}
#: a match whose round trip (our MindIR reader -> ONNX Runtime) must match too
RT = {"outcome": "match", "roundtrip": "match"}


def refused(phrase: str) -> dict:
    return {"outcome": "refused", "message": phrase}


SAMPLE: dict[str, dict] = {
    # issue 10's wrong answers, now right
    "test_gemm_default_single_elem_vector_bias": M,
    "test_matmul_bcast": M,
    "test_dropout_default_mask": M,
    "test_dropout_default_mask_ratio": M,
    "test_training_dropout_frozen": refused("training-mode Dropout"),
    "test_training_dropout_mask_frozen": refused("training-mode Dropout"),
    "test_reduce_sum_empty_set_frozen": M,
    "test_reduce_max_empty_set_frozen": M,
    "test_reduce_prod_empty_set_frozen": M,
    "test_reduce_sum_empty_axes_input_noop_frozen": M,
    # dtypes MindIR lacks: one line naming the input and dtype
    "test_cast_FLOAT_to_FLOAT8E4M3FN": refused("graph output 'output' has dtype FLOAT8E4M3FN"),
    "test_cast_INT4_to_FLOAT": refused("graph input 'input' has dtype INT4"),
    "test_equal_string": refused("has dtype STRING"),
    # kernels MindSpore lacks, cast around exactly
    "test_matmul_1d_1d": M,
    "test_sub_uint32": M,
    "test_sub_uint64": M,
    "test_pow_types_float32_int32": M,
    "test_pow_types_int64_float32": M,
    "test_maxpool_2d_uint8": M,
    "test_max_uint16": M,
    # round trips that must read back exactly: ONNX Runtime has no 16-bit integer Max/Min (cast
    # to int32 and back), and a float64 tensor constant stays float64
    "test_max_int16": {"outcome": "match", "roundtrip": "match"},
    "test_min_int16": {"outcome": "match", "roundtrip": "match"},
    "test_eyelike_with_dtype": {"outcome": "match", "roundtrip": "match"},
    # pooling and convolution variants
    "test_maxpool_2d_pads": M,
    "test_maxpool_2d_ceil": M,
    "test_maxpool_2d_dilations": M,
    "test_maxpool_1d_default": M,
    "test_maxpool_with_argmax_2d_precomputed_pads": RT,  # Indices output (was refused), round trip too
    "test_averagepool_2d_pads_count_include_pad": M,
    "test_averagepool_2d_ceil": M,
    "test_averagepool_3d_dilations_small": M,
    "test_globalmaxpool": M,
    "test_conv_with_strides_and_asymmetric_padding": M,
    "test_conv_with_autopad_same": M,
    "test_convtranspose": M,
    "test_convtranspose_1d": M,
    "test_convtranspose_output_shape": M,
    "test_convtranspose_group_2": M,
    "test_convtranspose_dilations": M,
    "test_constant_pad_frozen": M,
    "test_reflect_pad_frozen": M,
    "test_edge_pad_frozen": M,
    "test_wrap_pad_frozen": M,
    "test_resize_upsample_scales_linear_frozen": M,
    "test_resize_downsample_scales_cubic_antialias_frozen": M,
    "test_resize_upsample_sizes_nearest_floor_align_corners_frozen": M,
    "test_resize_tf_crop_and_resize_extrapolation_value_frozen": M,
    "test_upsample_nearest_frozen": M,
    # normalizations and activations
    "test_layer_normalization_2d_axis0": M,
    "test_layer_normalization_4d_axis_negative_2": M,
    "test_rms_normalization_3d_axis_negative_1_epsilon": M,
    "test_instancenorm_example": M,
    "test_group_normalization_example": M,
    "test_gelu_tanh_1": M,
    "test_prelu_broadcast": M,
    "test_l2normalization_axis_0": RT,
    # shapes, indexing, constants
    "test_flatten_negative_axis1": M,
    "test_einsum_batch_matmul": M,
    "test_argmax_keepdims_example_select_last_index": M,
    "test_tril_neg": M,
    "test_top_k_smallest_frozen": M,
    "test_gather_elements_negative_indices": M,
    "test_gathernd_example_int32": RT,
    "test_cumsum_1d_reverse_exclusive_frozen": M,
    "test_split_1d_uneven_split_opset18": M,
    "test_slice_neg_steps_frozen": M,
    "test_scatternd_add": RT,
    "test_depthtospace_crd_mode_example": M,
    "test_spacetodepth_example": M,
    "test_quantizelinear_axis": M,
    "test_dequantizelinear_axis": M,
    "test_mod_mixed_sign_int32": M,
    "test_mod_int64_fmod": M,
    "test_mod_mixed_sign_float32": RT,  # C fmod: TruncateMod, read back as Mod(fmod=1)
    "test_dynamicquantizelinear": M,
    # bfloat16 computed in float32 per op; the round trip runs in onnx.reference (ONNX Runtime's
    # Python API cannot be fed bfloat16)
    "test_celu_bfloat16": RT,
    "test_einsum_batch_matmul_bfloat16": RT,
    "test_bitshift_right_int32_shift_ge_width": RT,
    "test_sce_NCd1_mean_weight_negative_ii": M,
    "test_nllloss_NCd1d2_with_weight_reduction_mean": M,
    "test_clip_default_inbounds_frozen": M,  # zero CNodes: reads back too
    "test_lstm_defaults": RT,
    "test_lstm_batchwise": RT,  # layout=1: transposed around the layout-0 computation
    "test_gru_batchwise": RT,
    "test_lstm_with_peepholes_frozen": M,
    "test_gru_with_initial_bias": RT,
    "test_rnn_seq_length": RT,
    "test_attention_3d_gqa_causal": M,
    "test_attention_4d_with_past_and_present_qk_matmul_bias": M,
    "test_attention_local_window": RT,  # sliding windows (was refused)
    "test_rotary_embedding_interleaved": M,
    "test_rotary_embedding_with_rotary_dim": M,
    "test_reduce_log_sum_exp_do_not_keepdims_random": RT,  # axes given at run time
    "test_reduce_sum_empty_set": refused("axes given at run time need a static, non-empty input"),
    "test_tile_precomputed": RT,  # repeats given at run time
    "test_lppool_2d_pads": M,
    "test_scatter_elements_with_negative_indices": RT,
    "test_det_2d": RT,  # MatrixDeterminant, read back as Det
    # round trips of issue 10 that our MindIR reader used to refuse: run-time reduction axes
    # (opset 18), shifts (unsigned BitShift), bitwise, trig, Log1p, OneHot, scatters, untyped ranks
    "test_hardmax_axis_0": RT,
    "test_bitshift_left_uint16": RT,
    "test_bitshift_right_int8_negative_shift": RT,
    "test_bitwise_xor_ui64_bcast_3v1d": RT,
    "test_softplus_example": RT,
    "test_acosh": RT,
    "test_scatternd_max": RT,
    "test_reduce_mean_default_axes_keepdims_example": RT,
    "test_causal_conv_with_state_decode_step_expanded": RT,
    "test_simple_rnn_defaults": RT,
    "test_l1normalization_axis_0": RT,
    # our own
    "flatten_axis_equals_rank": M,
    "softmax_row_all_minus_inf": M,
}


def freeze(src: Path, dst: Path) -> None:
    """Copy a node test with every input after the first turned into an initializer."""
    model = onnx.load(src / "model.onnx")
    data = dst / "test_data_set_0"
    data.mkdir(parents=True, exist_ok=True)
    first, *rest = list(model.graph.input)
    for j, info in enumerate(rest, start=1):
        tensor = TensorProto()
        tensor.ParseFromString((src / "test_data_set_0" / f"input_{j}.pb").read_bytes())
        tensor.name = info.name
        model.graph.initializer.append(tensor)
    del model.graph.input[:]
    model.graph.input.append(first)
    onnx.save(model, dst / "model.onnx")
    shutil.copy(src / "test_data_set_0" / "input_0.pb", data / "input_0.pb")
    for out in (src / "test_data_set_0").glob("output_*.pb"):
        shutil.copy(out, data / out.name)


def own_case(name: str, node: onnx.NodeProto, x: np.ndarray, out_shape: list[int]) -> None:
    """A one-node test of our own, with ONNX Runtime's output as the expected one."""
    import onnxruntime as ort

    graph = helper.make_graph([node], name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    (y,) = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    folder = DEST / name / "test_data_set_0"
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, DEST / name / "model.onnx")
    (folder / "input_0.pb").write_bytes(numpy_helper.from_array(x, "x").SerializeToString())
    (folder / "output_0.pb").write_bytes(numpy_helper.from_array(y, "y").SerializeToString())


def main() -> int:
    if not CORPUS.exists():
        print("corpora/onnx_node is missing: run benchmarks/onnx_suite.py first")
        return 1
    if DEST.exists():
        shutil.rmtree(DEST)
    DEST.mkdir(parents=True)
    for name in SAMPLE:
        if name.endswith("_frozen"):
            freeze(CORPUS / name.removesuffix("_frozen"), DEST / name)
        elif (CORPUS / name).exists():
            shutil.copytree(CORPUS / name, DEST / name)
    own_case("flatten_axis_equals_rank", helper.make_node("Flatten", ["x"], ["y"], axis=2),
             np.arange(32, dtype=np.float32).reshape(1, 32), [32, 1])
    own_case("softmax_row_all_minus_inf", helper.make_node("Softmax", ["x"], ["y"], axis=-1),
             np.array([[-np.inf] * 3, [1, 2, 3]], np.float32), [2, 3])
    missing = [n for n in SAMPLE if not (DEST / n).exists()]
    (DEST / "manifest.json").write_text(json.dumps(SAMPLE, indent=1) + "\n")
    size = sum(p.stat().st_size for p in DEST.rglob("*") if p.is_file())
    print(f"{len(SAMPLE) - len(missing)} cases, {size / 1024:.0f} KiB in {DEST}" + (f"; missing {missing}" if missing else ""))
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())

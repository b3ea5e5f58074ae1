"""The slots of MindSpore Lite's ``.ms`` FlatBuffers schema that the reader uses, and little more.

Slot numbers and enum values follow ``mindspore-lite/schema/{model,ops,ops_types}.fbs``
(MindSpore Lite 2.x, file identifier ``MSL2``). Only what the reader reads is declared: a
FlatBuffers table field is found by its slot (its position in the table's declaration), so
a reader needs the slot numbers, not the schema text. New ops are appended to the
``PrimitiveType`` union upstream, so older files keep their indices.
"""

from __future__ import annotations

FILE_IDENTIFIER = b"MSL2"
#: Lite 1.x identifiers; those files are deprecated upstream (Netron refuses them too).
OLD_IDENTIFIERS = (b"MSL0", b"MSL1")

# -- table slots (field index in declaration order) -----------------------------------------
META_GRAPH = {"name": 0, "version": 1, "fmk_type": 2, "input_index": 3, "output_index": 4,
              "mempool_size": 5, "nodes": 6, "all_tensors": 7, "sub_graph": 8}
CNODE = {"name": 0, "primitive": 2, "input_index": 3, "output_index": 4, "quant_type": 5, "device_type": 6}
PRIMITIVE = {"value_type": 0, "value": 1}  # a union takes two slots: its type byte, then the table
TENSOR = {"node_type": 0, "data_type": 1, "dims": 2, "format": 3, "offset": 5, "data": 6,
          "quant_params": 7, "quant_clusters": 8, "name": 9, "enable_huffman_code": 10,
          "weight_quant_compress_type": 11, "external_data": 12}
QUANT_PARAM = {"scale": 0, "zero_point": 1, "min": 2, "max": 3, "narrow_range": 4, "num_bits": 5,
               "inited": 6, "var_corr": 7, "mean_corr": 8, "dst_dtype": 9, "round_type": 10, "multiplier": 11}
QUANT_PARAM_DEFAULTS = {"narrow_range": True, "num_bits": 8, "var_corr": 1.0, "dst_dtype": 32,
                        "round_type": 1, "multiplier": 1}
SUB_GRAPH = {"name": 0, "input_indices": 1, "output_indices": 2, "node_indices": 3, "tensor_indices": 4}

#: MetaGraph.fmkType: the framework the converter read.
FMK_TYPES = {0: "TensorFlow", 1: "Caffe", 2: "ONNX", 3: "MindIR", 4: "TFLite", 5: "PyTorch", 6: "MindSpore Lite"}
#: Tensor.nodeType.
NODE_TYPES = {0: "value", 1: "parameter", 2: "cnode"}
#: Tensor.format (ops_types.fbs ``Format``).
FORMATS = ("NCHW", "NHWC", "NHWC4", "HWKC", "HWCK", "KCHW", "CKHW", "KHWC", "CHWK", "HW", "HW4", "NC", "NC4",
           "NC4HW4", "NUM_OF_FORMAT", "NCDHW")
#: CNode.quantType.
QUANT_TYPES = ("QUANT_NONE", "AwareTraining", "WeightQuant", "PostTraining", "QUANT_WEIGHT", "QUANT_ALL",
               "QUANT_DYNAMIC")
#: Tensor.weightQuantCompressType.
COMPRESS_TYPES = ("NONE", "INDEXING", "SPARSE", "FSE", "BITPACKING", "FSE_INT", "FSE_INFER")
#: ops_types.fbs ``ActivationType``: the activation a fused op applies to its result.
ACTIVATIONS = ("NO_ACTIVATION", "RELU", "SIGMOID", "RELU6", "ELU", "LEAKY_RELU", "ABS", "RELU1", "SOFTSIGN",
               "SOFTPLUS", "TANH", "SELU", "HSWISH", "HSIGMOID", "THRESHOLDRELU", "LINEAR", "HARD_TANH", "SIGN",
               "SWISH", "GELU", "UNKNOWN")
PAD_MODES = ("PAD", "SAME", "VALID")

#: MindSpore TypeId (ir/dtype/type_id.h) -> numpy dtype name; Tensor.dataType holds these.
TYPE_IDS = {30: "bool", 32: "int8", 33: "int16", 34: "int32", 35: "int64", 37: "uint8", 38: "uint16",
            39: "uint32", 40: "uint64", 42: "float16", 43: "float32", 44: "float64"}
TYPE_ID_NAMES = {31: "Int", 36: "UInt", 41: "Float", 46: "Complex", 49: "String"}

#: PrimitiveType union members, in declaration order; the union's type byte is index + 1
#: (0 is NONE). Covers MindSpore Lite 2.0's members (later releases append).
PRIMITIVE_TYPES = (
    "Abs", "Activation", "ActivationGrad", "Adam", "AddFusion", "AdderFusion", "AddGrad", "AddN", "All",
    "ApplyMomentum", "ArgMaxFusion", "ArgMinFusion", "Assert", "Assign", "AssignAdd", "AudioSpectrogram",
    "AvgPoolFusion", "AvgPoolGrad", "BatchNorm", "BatchNormGrad", "BatchToSpace", "BatchToSpaceND", "BiasAdd",
    "BinaryCrossEntropy", "BinaryCrossEntropyGrad", "BiasAddGrad", "BroadcastTo", "Cast", "Ceil", "Clip", "Concat",
    "Attention", "Conv2DBackpropFilterFusion", "Conv2DBackpropInputFusion", "Conv2DFusion", "Conv2dTransposeFusion",
    "Cos", "ConstantOfShape", "Crop", "CustomExtractFeatures", "CustomNormalize", "CustomPredict",
    "DeConv2DGradFilter", "Depend", "DepthToSpace", "DetectionPostProcess", "DivFusion", "DivGrad", "Dropout",
    "DropoutGrad", "Elu", "Eltwise", "Equal", "EmbeddingLookupFusion", "ExpFusion", "ExpandDims",
    "FakeQuantWithMinMaxVars", "FakeQuantWithMinMaxVarsPerChannel", "FftReal", "FftImag", "Flatten", "FlattenGrad",
    "Floor", "FloorDiv", "FloorMod", "Fill", "FullConnection", "FusedBatchNorm", "Gather", "GatherNd", "Greater",
    "GreaterEqual", "HashtableLookup", "InstanceNorm", "LayerNormFusion", "LeakyRelu", "Less", "LessEqual", "Log",
    "LogGrad", "LogicalAnd", "LogicalNot", "LogicalOr", "LpNormalization", "LRN", "LshProjection", "LSTM",
    "L2NormalizeFusion", "MatMulFusion", "Maximum", "MaximumGrad", "MaxPoolFusion", "MaxPoolGrad", "SwitchLayer",
    "Mfcc", "Minimum", "MinimumGrad", "Mod", "MulFusion", "MulGrad", "Neg", "NegGrad", "NotEqual",
    "NonMaxSuppression", "OneHot", "OnesLike", "PadFusion", "PartialFusion", "PowerGrad", "PowFusion", "PriorBox",
    "PReLUFusion", "QuantDTypeCast", "Rank", "Range", "Reciprocal", "RealDiv", "ReduceFusion", "Reshape", "Resize",
    "ReverseSequence", "ReverseV2", "Rfft", "ROIPooling", "Round", "Rsqrt", "ScaleFusion", "ScatterNd", "SGD",
    "Shape", "SigmoidCrossEntropyWithLogits", "SigmoidCrossEntropyWithLogitsGrad", "Sin", "SkipGram", "SliceFusion",
    "SmoothL1Loss", "SmoothL1LossGrad", "Softmax", "SoftmaxCrossEntropyWithLogits", "SpaceToBatch",
    "SpaceToBatchND", "SpaceToDepth", "SparseSoftmaxCrossEntropyWithLogits", "SparseToDense", "Split", "Sqrt",
    "Squeeze", "Square", "SquaredDifference", "Stack", "StridedSlice", "SubFusion", "SubGrad", "Switch",
    "TensorListFromTensor", "TensorListGetItem", "TensorListReserve", "TensorListSetItem", "TensorListStack",
    "TileFusion", "TopKFusion", "Transpose", "Unique", "UnsortedSegmentSum", "Unsqueeze", "Unstack", "LSTMGrad",
    "Where", "ZerosLike", "Select", "ScatterNdUpdate", "GRU", "NonZero", "InvertPermutation", "Size",
    "RandomStandardNormal", "CropAndResize", "Erf", "StridedSliceGrad", "IsFinite", "LinSpace", "UniformReal",
    "AbsGrad", "RsqrtGrad", "SqrtGrad", "LayerNormGrad", "ResizeGrad", "Splice", "LogSoftmax", "Call", "Custom",
    "CumSum", "SplitWithOverlap", "GenOP", "RaggedRange", "GLU", "TensorArray", "TensorArrayRead",
    "TensorArrayWrite", "Affine", "AllGather", "ReduceScatter", "DynamicQuant", "LSTMGradData", "LSTMGradWeight",
    "RandomNormal", "NLLLoss", "NLLLossGrad", "FormatTranspose", "GatherD", "GroupNormFusion", "Log1p",
    "TensorScatterAdd", "SparseFillEmptyRows", "SparseReshape", "SparseSegmentSum", "ScatterElements", "Triu",
    "Tril", "AdamWeightDecay", "FillV2",
)

# -- op attributes shown in the graph: op -> {attribute: (slot, kind)} ---------------------
# kind: "long", "bool", "float", "longs" (vector of int64), "activation", "pad_mode", "format".
_CONV = {"format": (0, "format"), "kernel_size": (1, "longs"), "stride": (2, "longs"), "dilation": (3, "longs"),
         "pad_mode": (4, "pad_mode"), "pad_list": (5, "longs"), "group": (7, "long"), "in_channel": (8, "long"),
         "out_channel": (9, "long"), "activation_type": (10, "activation")}
_POOL = {"kernel_size": (0, "longs"), "strides": (1, "longs"), "pad": (2, "longs"), "pad_mode": (3, "pad_mode"),
         "format": (5, "format"), "global": (6, "bool"), "activation_type": (7, "activation")}
_ELTWISE = {"activation_type": (0, "activation")}
OP_ATTRIBUTES: dict[str, dict[str, tuple[int, str]]] = {
    "Conv2DFusion": _CONV,
    "Conv2dTransposeFusion": _CONV,
    "MaxPoolFusion": _POOL,
    "AvgPoolFusion": _POOL,
    "AddFusion": _ELTWISE,
    "SubFusion": _ELTWISE,
    "MulFusion": _ELTWISE,
    "DivFusion": _ELTWISE,
    "MatMulFusion": {"transpose_a": (0, "bool"), "transpose_b": (1, "bool"), "activation_type": (2, "activation")},
    "FullConnection": {"has_bias": (0, "bool"), "use_axis": (1, "bool"), "axis": (2, "long"),
                       "activation_type": (3, "activation")},
    "ScaleFusion": {"axis": (0, "long"), "activation_type": (1, "activation")},
    "Activation": {"activation_type": (0, "activation"), "alpha": (1, "float"), "min_val": (2, "float"),
                   "max_val": (3, "float")},
    "Softmax": {"axis": (0, "longs")},
    "Concat": {"axis": (0, "long")},
    "Flatten": {"axis": (0, "long")},
    "LayerNormFusion": {"begin_norm_axis": (0, "long"), "epsilon": (1, "float"), "begin_params_axis": (3, "long")},
    "ReduceFusion": {"keep_dims": (0, "bool"), "reduce_to_end": (2, "bool")},
}

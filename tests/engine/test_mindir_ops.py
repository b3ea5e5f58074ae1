"""The op table against MindSpore itself: small MindIR files (scripts/make_op_fixtures.py) per primitive group."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from engine import formats
from engine.formats.mindir import reader
from engine.formats.mindir.lower import OPS, PLUMBING, supported_primitives

OPS_DIR = Path(__file__).resolve().parents[1] / "data" / "mindir_ops"
CASES = sorted(p.name for p in OPS_DIR.iterdir() if (p / "model.mindir").exists())


@pytest.mark.parametrize("name", CASES)
def test_op_group_matches_mindspore(name):
    folder = OPS_DIR / name
    meta = json.loads((folder / "meta.json").read_text())
    model = formats.load(folder / "model.mindir")
    onnx.checker.check_model(model.onnx, full_check=True)
    session = ort.InferenceSession(model.onnx.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {i.name: np.load(folder / m["file"]) for i, m in zip(session.get_inputs(), meta["inputs"])}
    outputs = session.run(None, feeds)
    expected = [np.load(folder / m["file"]) for m in meta["outputs"]]
    assert len(outputs) == len(expected)
    for k, (y, e) in enumerate(zip(outputs, expected)):
        assert y.shape == e.shape, f"output {k}"
        assert y.dtype == e.dtype, f"output {k}"
        tolerance = 1e-4 * max(1.0, float(np.abs(e.astype(np.float64)).max()))
        assert float(np.abs(y.astype(np.float64) - e.astype(np.float64)).max()) <= tolerance, f"output {k}"


def test_every_primitive_in_the_op_files_has_a_rule():
    seen = set()
    for name in CASES:
        folder = OPS_DIR / name
        graph = reader.decode(reader.parse((folder / "model.mindir").read_bytes(), folder), folder)
        seen |= {n.op_type for n in graph.nodes}
    assert seen <= set(OPS) | set(PLUMBING)
    assert {"LSTM", "ReverseV2", "Conv2DTranspose", "ResizeBilinearV2", "StridedSlice", "AvgPool"} <= seen
    # MindSpore 2.x primitives of the model zoo (issue 9), each against MindSpore's output above.
    assert {"InplaceAddExt", "MatMulExt", "Muls", "Divs", "TransposeExtView", "SumExt", "MeanExt", "AddExt",
            "ZerosLikeExt", "Embedding", "TensorMove", "CumSum", "GroupNorm", "Unstack", "Erf", "HSwish", "Mish",
            "LogicalNot", "TensorScatterUpdate", "InplaceMul", "InplaceDiv", "SplitTensorView", "SubExt", "OnesLikeExt",
            "PowTensorScalar", "AddScalar", "SubScalar", "L2Normalize", "LpNorm",
            "LessScalar"} <= seen


def test_scalar_index_gather_drops_the_axis():
    """A 0-d index is a scalar: Gather removes the axis ([2,4,5,6] -> [2,5,6]), as MindSpore does."""
    folder = OPS_DIR / "zoo_primitives"
    model = formats.load(folder / "model.mindir")
    gathers = [n for n in model.onnx.graph.node if n.op_type == "Gather"]
    assert len(gathers) == 1
    index = next(t for t in model.onnx.graph.initializer if t.name == gathers[0].input[1])
    assert list(index.dims) == []
    assert np.load(folder / "expected_7.npy").shape == (2, 5, 6)


def test_converted_graphs_use_only_their_declared_opset():
    """Mish is decomposed (ONNX Mish is opset 18; the graph declares 17) and the full checker passes."""
    model = formats.load(OPS_DIR / "zoo_primitives" / "model.mindir")
    assert model.onnx.opset_import[0].version == 17
    assert "Mish" not in {n.op_type for n in model.onnx.graph.node}
    onnx.checker.check_model(model.onnx, full_check=True)


def test_inplace_add_is_seen_by_later_readers():
    """InplaceAddExt updates its input: the returned tensor and later reads of the input agree."""
    folder = OPS_DIR / "ext_primitives"
    model = formats.load(folder / "model.mindir")
    session = ort.InferenceSession(model.onnx.SerializeToString(), providers=["CPUExecutionProvider"])
    x, ids = np.load(folder / "input_0.npy"), np.load(folder / "input_1.npy")
    y = session.run(None, dict(zip([i.name for i in session.get_inputs()], [x, ids])))[1]
    np.testing.assert_allclose(y, x * 2.5 + x, rtol=1e-6)


def test_supported_primitives_lists_the_table():
    listed = supported_primitives()
    assert "Conv2D" in listed and "Load" in listed and listed == sorted(listed)


def test_embedding_with_max_norm_is_refused_not_approximated(tmp_path):
    """max_norm renormalizes the weight in place on every call; the converter names it and writes nothing."""
    from engine.errors import EngineError

    path = OPS_DIR.parent / "mindir_refused" / "embedding_max_norm" / "model.mindir"
    model = formats.load(path)  # the file still opens
    assert [u.primitive for u in model.unlowered] == ["Embedding"]
    assert "max_norm" in model.unlowered[0].reason
    out = tmp_path / "model.onnx"
    with pytest.raises(EngineError, match="Embedding"):
        formats.save(model, out)
    assert not out.exists()


def test_every_mindspore_2x_rule_is_tested_against_mindspore():
    """Each rule of ops_ext (MindSpore 2.x Ext/scalar/in-place primitives) appears in a MindSpore-written fixture."""
    from engine.formats.mindir.lower import _load_rules

    _load_rules()
    ext_rules = {name for name, rule in OPS.items() if rule.__module__.endswith("mindir.ops_ext")}
    seen = set()
    for folder in [OPS_DIR / name for name in CASES] + [OPS_DIR.parent / "mindir_refused" / "embedding_max_norm"]:
        graph = reader.decode(reader.parse((folder / "model.mindir").read_bytes(), folder), folder)
        seen |= {n.op_type for n in graph.nodes}
    assert ext_rules and ext_rules <= seen, sorted(ext_rules - seen)

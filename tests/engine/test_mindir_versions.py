"""mind_ir_version: what inspect says about a MindIR's version, and writing version 1 only where the content allows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from engine import formats
from engine.errors import FormatError
from engine.formats import mindir_versions
from tests_helpers import fixture_by_name


def conv_pool_onnx(path: Path) -> Path:
    """Conv + MaxPool: ops our writer emits as PRIMITIVE (settings as attributes), so version 1 can hold them."""
    w = numpy_helper.from_array(np.random.RandomState(0).randn(4, 1, 3, 3).astype(np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3]),
         helper.make_node("MaxPool", ["c"], ["y"], kernel_shape=[2, 2], strides=[2, 2])],
        "convpool", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 3, 3])], [w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_inspect_states_version_content_and_runtimes():
    model = formats.load(fixture_by_name("lenet5").mindir)
    meta = model.metadata
    assert meta["mind_ir_version"] == "3"
    assert meta["mind_ir_content"].startswith("needs version 2 (PRIMITIVE_FUNCTION primitives:")
    assert "MatMul" in meta["mind_ir_content"]
    assert meta["runtimes"] == "MindSpore 2.10 yes; MindSpore Lite 2.0 no (reads up to 1; content needs 2)"


def test_version_1_is_written_when_the_content_allows(tmp_path):
    from engine.cli import main

    out = tmp_path / "cp.mindir"
    assert main(["convert", str(conv_pool_onnx(tmp_path / "cp.onnx")), "-o", str(out), "--mind-ir-version", "1"]) == 0
    facts = mindir_versions.describe(out)
    assert facts["mind_ir_version"] == "1" and facts["mind_ir_content"] == "needs version 1"
    assert facts["runtimes"] == "MindSpore 2.10 yes; MindSpore Lite 2.0 yes"
    assert formats.load(out).metadata["mind_ir_version"] == "1"


def test_version_1_is_refused_naming_the_primitive_functions(tmp_path, capsys):
    from engine.cli import main

    out = tmp_path / "lenet.mindir"
    assert main(["convert", str(fixture_by_name("lenet5").onnx), "-o", str(out), "--mind-ir-version", "1"]) == 1
    err = capsys.readouterr().err
    assert "cannot write mind_ir_version 1: this graph needs version 2 (PRIMITIVE_FUNCTION primitives:" in err
    assert "MatMul" in err and not out.exists()
    with pytest.raises(FormatError, match="unknown mind_ir_version 7"):
        mindir_versions.save(formats.load(fixture_by_name("lenet5").onnx), out, None, version=7)


@pytest.mark.mindspore
def test_version_1_file_runs_on_mindspore(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "cp.mindir"
    src = conv_pool_onnx(tmp_path / "cp.onnx")
    mindir_versions.save(formats.load(src), out, None, version=1)
    x = np.random.RandomState(1).randn(1, 1, 8, 8).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    code = ("import sys, numpy as np, mindspore as ms; d = sys.argv[1]; "
            "y = ms.nn.GraphCell(ms.load(d + '/cp.mindir'))(ms.Tensor(np.load(d + '/x.npy'))); np.save(d + '/y.npy', y.asnumpy())")
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, capture_output=True, timeout=600)
    import onnxruntime as ort

    want = ort.InferenceSession(str(src)).run(None, {"x": x})[0]
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), want, rtol=1e-5, atol=1e-5)

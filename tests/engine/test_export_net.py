"""dstudio export --net: a network definition + a checkpoint -> MindIR/ONNX, proven against Model.predict."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine import formats
from engine.errors import BindingError, FormatError
from engine.model import Model
from engine.netexport import export_net, parse_net_spec
from engine.params import ParameterSet
from tests_helpers import fixture_by_name

NETS = Path(__file__).resolve().parents[1] / "data" / "netdefs"
LENET = f"{NETS / 'lenet5_net.py'}:LeNet5"


def test_net_spec_is_checked(tmp_path):
    with pytest.raises(FormatError, match="path/to/net.py:ClassName"):
        parse_net_spec("lenet5_net.py")
    with pytest.raises(FormatError, match="no such network definition file"):
        parse_net_spec(str(tmp_path / "missing.py") + ":Net")


@pytest.mark.mindspore
def test_lenet5_mindir_reproduces_mindspores_own_outputs(tmp_path):
    """The fixture's checkpoint and input: predict gives the outputs MindSpore recorded for it."""
    fx = fixture_by_name("lenet5")
    out = tmp_path / "lenet.mindir"
    result = export_net(LENET, fx.ckpt, out, inputs=fx.folder / "input_0.npy")
    assert result.method == "mindspore.export MINDIR" and result.report.ok and len(result.report.matched) == 10
    np.testing.assert_allclose(result.outputs[0], fx.expected()[0], rtol=1e-6, atol=1e-7)
    assert result.predict_max_abs <= 1e-6
    # We open what MindSpore wrote, and convert it: ONNX Runtime agrees with predict.
    import onnxruntime as ort

    model = formats.load(out)
    assert model.source_format == "mindir" and model.is_lowered
    formats.save(model, tmp_path / "lenet.onnx")
    sess = ort.InferenceSession(str(tmp_path / "lenet.onnx"), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: fx.inputs()[0]})[0]
    np.testing.assert_allclose(got, result.outputs[0], rtol=1e-5, atol=1e-5)


@pytest.mark.mindspore
def test_lenet5_onnx_through_mindspore_export(tmp_path, capsys):
    from engine.cli import main

    fx = fixture_by_name("lenet5")
    out = tmp_path / "lenet.onnx"
    assert main(["export", "--net", LENET, "--params", str(fx.ckpt), "--input-shape", "1,1,32,32", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "(onnx, mindspore.export ONNX)" in text and "matched               10" in text
    assert formats.load(out).is_lowered


@pytest.mark.mindspore
def test_onnx_falls_back_to_our_converter_when_mindspore_cannot(tmp_path):
    """HSwish and ELU are not in MindSpore 2.10's ONNX export; the checkpoint is one the test saves."""
    rng = np.random.default_rng(3)
    params = ParameterSet([("conv.weight", rng.standard_normal((8, 3, 3, 3)).astype(np.float32)),
                           ("conv.bias", rng.standard_normal(8).astype(np.float32)),
                           ("fc.weight", rng.standard_normal((5, 8)).astype(np.float32)),
                           ("fc.bias", rng.standard_normal(5).astype(np.float32))])
    ckpt = tmp_path / "hswish.ckpt"
    formats.save(Model(onnx=None, params=params, source_format="npz"), ckpt)
    result = export_net(f"{NETS / 'hswish_net.py'}:HSwishNet", ckpt, tmp_path / "h.onnx", input_shape=(2, 3, 8, 8),
                        seed=1)
    assert result.method.startswith("our converter from MindSpore's MindIR (MindSpore's ONNX export failed:")
    assert "HSwish" in result.method or "Elu" in result.method
    assert result.predict_max_abs <= 1e-5
    assert result.outputs[0].shape == (2, 5)


@pytest.mark.mindspore
def test_checkpoint_that_does_not_fit_is_refused_with_the_report(tmp_path):
    fx = fixture_by_name("lenet5")
    out = tmp_path / "x.mindir"
    with pytest.raises(BindingError, match=r"8 matched, 2 mismatched \(fc3.weight graph \[12, 84\]") as info:
        export_net(LENET, fx.ckpt, out, input_shape=(1, 1, 32, 32), args={"num_classes": 12})
    assert [row[0] for row in info.value.report.mismatched] == ["fc3.weight", "fc3.bias"]
    assert not out.exists()

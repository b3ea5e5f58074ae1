"""optimize(): every pass proven against ONNX Runtime on the unoptimised model; the gate works."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from engine import formats
from engine.optimize import optimize
from engine.optimize import presets as presets_module
from engine.passes import Pass, PassResult
from tests.conftest import fixture_by_name


class FlipSign(Pass):
    """Test double: a deliberately wrong pass that negates the first graph output."""

    name = "flip_sign"
    summary = "negate output 0 (wrong on purpose)"

    def call(self, model):
        out = onnx.ModelProto()
        out.CopyFrom(model)
        g = out.graph
        old = g.output[0].name
        for node in g.node:
            node.output[:] = [old + "_pre" if o == old else o for o in node.output]
            node.input[:] = [old + "_pre" if i == old else i for i in node.input]
        g.node.append(onnx.helper.make_node("Neg", [old + "_pre"], [old]))
        return PassResult(out, True, ["negated"])


class Cheat(Pass):
    """Test double: replaces the whole network by a constant of the output's shape (very fast, very wrong)."""

    name = "cheat"
    summary = "constant output"

    def call(self, model):
        out = onnx.ModelProto()
        out.CopyFrom(model)
        g = out.graph
        shape = [d.dim_value for d in g.output[0].type.tensor_type.shape.dim]
        del g.node[:]
        del g.initializer[:]
        g.initializer.append(onnx.numpy_helper.from_array(np.ones(shape, np.float32), "cheat_c"))
        g.node.append(onnx.helper.make_node("Identity", ["cheat_c"], [g.output[0].name]))
        return PassResult(out, True, [])


class Broken(Pass):
    name = "broken"

    def call(self, model):
        raise RuntimeError("boom")


@pytest.fixture(scope="module")
def mobilenet():
    return formats.load(fixture_by_name("mobilenetv2_small").onnx)


def test_default_chain_folds_fuses_and_proves(mobilenet):
    result = optimize(mobilenet, measure_latency=False)
    names = [s.name for s in result.steps]
    assert names[:4] == ["constant_folding", "dead_code", "shape_simplify", "fuse_batchnorm"]
    fold = next(s for s in result.steps if s.name == "fuse_batchnorm")
    assert fold.kept and fold.modified and fold.ops_before["BatchNormalization"] == 52
    assert "BatchNormalization" not in fold.ops_after and fold.size_after < fold.size_before
    assert fold.parity.passed and fold.parity.precision == "float32" and fold.parity.max_abs < 1e-4
    assert "BatchNormalization" not in {n.op_type for n in result.model.onnx.graph.node}
    assert result.parity.passed
    assert result.model.source_path == mobilenet.source_path  # provenance kept: cannot be saved over its input
    d = result.to_dict()
    assert d["steps"][3]["ops_before"]["BatchNormalization"] == 52 and d["final"]["parity"]["passed"]


def test_wrong_pass_is_caught_and_dropped(mobilenet):
    result = optimize(mobilenet, passes=["fuse_batchnorm", FlipSign(), "shape_simplify"], measure_latency=False)
    flip = result.steps[1]
    assert flip.modified and not flip.kept and flip.reason.startswith("parity failed")
    assert flip.parity.cosine < 0
    assert "Neg" not in {n.op_type for n in result.model.onnx.graph.node}  # chain went on from the good model
    assert result.steps[0].kept and result.parity.passed


def test_force_keeps_a_failing_pass(mobilenet):
    result = optimize(mobilenet, passes=[FlipSign()], force=True, measure_latency=False)
    assert result.steps[0].kept and "forced" in result.steps[0].reason
    assert "Neg" in {n.op_type for n in result.model.onnx.graph.node}
    assert not result.parity.passed


def test_a_pass_that_raises_is_reported(mobilenet):
    result = optimize(mobilenet, passes=[Broken(), "fuse_batchnorm"], measure_latency=False)
    assert result.steps[0].reason == "error: boom" and not result.steps[0].kept
    assert result.steps[1].kept


def test_latency_measured_per_pass():
    model = formats.load(fixture_by_name("lenet5").onnx)
    result = optimize(model, iterations=3)
    assert result.baseline_latency_ms and result.baseline_latency_ms > 0
    for s in result.steps:
        assert (s.latency_ms is not None) == (s.kept and s.modified)


def test_int8_preset_uses_cosine_rule():
    model = formats.load(fixture_by_name("tiny_transformer").onnx)
    result = optimize(model, preset="int8-weight", measure_latency=False)
    step = next(s for s in result.steps if s.name == "int8_weight")
    assert step.kept and step.parity.precision == "int8" and step.parity.cosine >= 0.99
    assert result.final_size <= 0.3 * result.baseline_size


def test_auto_never_picks_a_parity_failure(monkeypatch):
    model = formats.load(fixture_by_name("lenet5").onnx)
    monkeypatch.setitem(presets_module.VARIANT_TAILS, "cheat", [Cheat()])
    result = optimize(model, preset="auto", auto_variants=("cheat", "fp32", "int8-weight"), iterations=6)
    by_name = {v.name: v for v in result.variants}
    assert set(by_name) == {"plain", "cheat", "fp32", "int8-weight"}
    cheat = by_name["cheat"]
    assert cheat.reason.startswith("cheat: parity failed") and not cheat.chosen and cheat.model is None
    chosen = by_name[result.chosen]
    assert chosen.parity.passed and chosen.chosen
    # The input model is a candidate, so the pick is never slower than it as measured.
    assert chosen.latency_ms <= by_name["plain"].latency_ms
    assert sum(v.chosen for v in result.variants) == 1


def test_passes_and_preset_are_exclusive(mobilenet):
    from engine.errors import EngineError

    with pytest.raises(EngineError):
        optimize(mobilenet, passes=["dead_code"], preset="fp16", measure_latency=False)
    with pytest.raises(EngineError, match="unknown pass"):
        optimize(mobilenet, passes=["nope"], measure_latency=False)

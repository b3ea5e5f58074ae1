"""Export: binding checkpoints into graphs, checked against MindSpore's outputs on ONNX Runtime."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from engine import formats
from engine.cli import main
from engine.errors import BindingError, Cancelled, FormatError, OutputPathError
from engine.export import bind_parameters, export
from engine.jobs import Job
from engine.model import Model
from engine.params import ParameterSet
from tests_helpers import fixture_by_name


def _run(proto: onnx.ModelProto, feeds: list[np.ndarray]) -> list[np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return session.run(None, dict(zip(names, feeds)))


def _close(got: np.ndarray, want: np.ndarray) -> bool:
    return float(np.max(np.abs(got - want))) <= 1e-4 * max(1.0, float(np.max(np.abs(want))))


def _load_graph(fx, kind: str) -> Model:
    try:
        return formats.load(fx.mindir if kind == "mindir" else fx.onnx)
    except FormatError as exc:
        pytest.skip(f"engine cannot read {kind} yet: {exc}")


def _save_graph(model: Model, path, kind: str) -> None:
    if kind == "mindir":
        try:
            formats.save(model, path, fmt="mindir")
        except (ImportError, NotImplementedError) as exc:
            pytest.skip(f"engine cannot write MindIR yet: {exc}")
    else:
        formats.save(model, path, fmt=kind)


def _zeroed(model: Model, names: list[str]) -> Model:
    """A copy of ``model`` with every initializer named in the checkpoint set to zeros."""
    proto = onnx.ModelProto()
    proto.CopyFrom(model.onnx)
    wanted = set(names)
    hits = 0
    for tensor in proto.graph.initializer:
        if tensor.name.rsplit(":", 1)[-1] in wanted:
            zero = np.zeros_like(numpy_helper.to_array(tensor))
            tensor.CopyFrom(numpy_helper.from_array(zero, name=tensor.name))
            hits += 1
    assert hits == len(wanted), "every checkpoint tensor should be a graph initializer"
    return Model(onnx=proto, source_format=model.source_format, metadata=dict(model.metadata),
                 source_nodes=model.source_nodes)


@pytest.mark.parametrize("kind", ["onnx", "mindir"])
@pytest.mark.parametrize("name", ["resnet18", "lenet5", "tiny_transformer", "mobilenetv2_small"])
def test_zeroed_graph_exported_with_checkpoint_matches_mindspore(name, kind, tmp_path):
    fx = fixture_by_name(name)
    graph = _load_graph(fx, kind)
    expected = fx.expected()
    zeroed = _zeroed(graph, fx.meta["param_names"])
    zeroed_path = tmp_path / f"zeroed.{kind}"
    _save_graph(zeroed, zeroed_path, kind)
    reread = formats.load(zeroed_path).onnx
    assert not all(_close(g, w) for g, w in zip(_run(reread, fx.inputs()), expected)), "zeroing changed nothing"

    result = export(zeroed_path, fx.ckpt, tmp_path / "bound.onnx")
    assert result.report.ok and result.format == "onnx"
    assert sorted(n.rsplit(":", 1)[-1] for n in result.report.matched) == sorted(fx.meta["param_names"])
    assert not result.report.missing and not result.report.unexpected
    got = _run(formats.load(result.output).onnx, fx.inputs())
    assert len(got) == len(expected)
    for g, w in zip(got, expected):
        assert g.shape == w.shape
        assert _close(g, w), f"max abs err {np.max(np.abs(g - w))}"


@pytest.mark.parametrize("kind", ["onnx", "mindir"])
def test_binding_in_memory_matches_mindspore(kind):
    fx = fixture_by_name("resnet18")
    graph = _load_graph(fx, kind)
    zeroed = _zeroed(graph, fx.meta["param_names"])
    bound, report = bind_parameters(zeroed, formats.load(fx.ckpt).params)
    assert report.ok and len(report.matched) == fx.meta["num_param_tensors"]
    assert not any(np.any(numpy_helper.to_array(t)) for t in zeroed.onnx.graph.initializer
                   if t.name in report.matched), "the input model must not be modified"
    for g, w in zip(_run(bound.onnx, fx.inputs()), fx.expected()):
        assert _close(g, w)


def test_export_to_mindir_runs_like_mindspore(tmp_path):
    fx = fixture_by_name("lenet5")
    graph = _load_graph(fx, "mindir")
    zeroed_path = tmp_path / "zeroed.onnx"
    formats.save(_zeroed(graph, fx.meta["param_names"]), zeroed_path)
    try:
        result = export(zeroed_path, fx.ckpt, tmp_path / "out.bin", fmt="mindir")
    except (ImportError, NotImplementedError) as exc:
        pytest.skip(f"engine cannot write MindIR yet: {exc}")
    assert result.format == "mindir" and formats.detect(result.output).name == "mindir"
    for g, w in zip(_run(formats.load(result.output).onnx, fx.inputs()), fx.expected()):
        assert _close(g, w)


def _edited_ckpt(tmp_path, *, drop: str | None = None, reshape: str | None = None, extra: dict | None = None):
    fx = fixture_by_name("lenet5")
    params = ParameterSet(formats.load(fx.ckpt).params)
    if drop:
        params = ParameterSet((k, v) for k, v in params.items() if k != drop)
    if reshape:
        params[reshape] = np.zeros((*params[reshape].shape[:-1], params[reshape].shape[-1] + 1), np.float32)
    for k, v in (extra or {}).items():
        params[k] = v
    path = tmp_path / "edited.ckpt"
    formats.save(Model(params=params), path)
    return fx, path


@pytest.mark.parametrize("problem", ["missing", "mismatched"])
def test_bad_checkpoint_is_refused_and_nothing_is_written(problem, tmp_path):
    fx, ckpt = _edited_ckpt(tmp_path, **({"drop": "fc2.bias"} if problem == "missing" else {"reshape": "conv2.weight"}))
    out = tmp_path / "out.onnx"
    with pytest.raises(BindingError) as info:
        export(fx.onnx, ckpt, out)
    report = info.value.report
    if problem == "missing":
        assert report.missing == ["fc2.bias"] and not report.mismatched
        assert "1 missing (fc2.bias)" in str(info.value)
    else:
        assert [m[0] for m in report.mismatched] == ["conv2.weight"] and not report.missing
        assert report.mismatched[0][1:3] == ((16, 6, 5, 5), (16, 6, 5, 6))
        assert "conv2.weight graph [16, 6, 5, 5] float32 vs file [16, 6, 5, 6] float32" in str(info.value)
    assert str(ckpt) in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["edited.ckpt"]


@pytest.mark.parametrize("problem", ["missing", "mismatched"])
def test_cli_refuses_with_one_line_and_exit_1(problem, tmp_path, capsys):
    fx, ckpt = _edited_ckpt(tmp_path, **({"drop": "fc2.bias"} if problem == "missing" else {"reshape": "conv2.weight"}))
    out = tmp_path / "out.onnx"
    code = main(["export", "--graph", str(fx.onnx), "--params", str(ckpt), "-o", str(out)])
    captured = capsys.readouterr()
    assert code == 1 and not out.exists()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:")
    assert ("fc2.bias" if problem == "missing" else "conv2.weight") in lines[0]
    assert "Traceback" not in captured.err and captured.out == ""


def test_cli_force_binds_what_fits_and_reports_it(tmp_path, capsys):
    fx, ckpt = _edited_ckpt(tmp_path, drop="fc2.bias", reshape="conv2.weight")
    out = tmp_path / "out.onnx"
    code = main(["export", "--graph", str(fx.onnx), "--params", str(ckpt), "-o", str(out), "--force", "--json"])
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["output"] == str(out) and payload["format"] == "onnx"
    assert payload["report"]["ok"] is False and payload["report"]["missing"] == ["fc2.bias"]
    assert [m["name"] for m in payload["report"]["mismatched"]] == ["conv2.weight"]
    original = {t.name: numpy_helper.to_array(t) for t in formats.load(fx.onnx).onnx.graph.initializer}
    written = {t.name: numpy_helper.to_array(t) for t in formats.load(out).onnx.graph.initializer}
    given = formats.load(ckpt).params
    np.testing.assert_array_equal(written["fc2.bias"], original["fc2.bias"])  # kept
    np.testing.assert_array_equal(written["conv2.weight"], original["conv2.weight"])  # kept
    np.testing.assert_array_equal(written["fc1.weight"], given["fc1.weight"])  # bound


def test_cli_prints_report_table_and_where_it_wrote(tmp_path, capsys):
    fx, ckpt = _edited_ckpt(tmp_path, extra={"moments.fc1.weight": np.zeros((120, 400), np.float32),
                                              "global_step": np.asarray(np.int32(9)),
                                              "learning_rate": np.asarray(np.float32(0.1))})
    out = tmp_path / "out.onnx"
    assert main(["export", "--graph", str(fx.onnx), "--params", str(ckpt), "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "matched               10" in text
    assert "unexpected (ignored)  3      moments.fc1.weight; global_step; learning_rate" in text
    assert f"wrote {out} (onnx)" in text
    for g, w in zip(_run(formats.load(out).onnx, fx.inputs()), fx.expected()):
        assert _close(g, w)


def test_names_match_with_or_without_mindir_graph_prefix():
    fx = fixture_by_name("lenet5")
    graph = formats.load(fx.onnx)
    params = formats.load(fx.ckpt).params
    prefixed = ParameterSet((f"140_71___main___LeNet5_construct_22:{k}", v) for k, v in params.items())
    _, report = bind_parameters(graph, prefixed)
    assert report.ok and len(report.matched) == len(params)
    proto = onnx.ModelProto()
    proto.CopyFrom(graph.onnx)
    for tensor in proto.graph.initializer:
        tensor.name = "g:" + tensor.name
    for node in proto.graph.node:
        node.input[:] = ["g:" + i if i in params else i for i in node.input]
    bound, report = bind_parameters(Model(onnx=proto), params)
    assert report.ok and report.matched[0].startswith("g:")
    for g, w in zip(_run(bound.onnx, fx.inputs()), fx.expected()):
        assert _close(g, w)


def test_metadata_parameter_list_decides_what_must_bind():
    fx = fixture_by_name("lenet5")
    graph = formats.load(fx.onnx)
    params = formats.load(fx.ckpt).params
    graph.metadata["parameters"] = json.dumps(["conv1.weight", "conv1.bias"])
    _, report = bind_parameters(graph, ParameterSet({"conv1.weight": params["conv1.weight"]}), force=True)
    assert report.missing == ["conv1.bias"] and report.matched == ["conv1.weight"]
    _, report = bind_parameters(graph, params)
    assert report.ok and sorted(report.unexpected) == sorted(k for k in params if not k.startswith("conv1."))


@pytest.mark.parametrize("ext", ["safetensors", "npz", "onnx"])
def test_other_parameter_sources_bind_the_same_values(ext, tmp_path):
    fx = fixture_by_name("lenet5")
    source = tmp_path / f"params.{ext}"
    formats.save(formats.load(fx.ckpt if ext != "onnx" else fx.onnx), source)
    zeroed_path = tmp_path / "zeroed.onnx"
    formats.save(_zeroed(formats.load(fx.onnx), fx.meta["param_names"]), zeroed_path)
    result = export(zeroed_path, source, tmp_path / "out.onnx")
    assert result.report.ok
    for g, w in zip(_run(formats.load(result.output).onnx, fx.inputs()), fx.expected()):
        assert _close(g, w)


def test_output_over_an_input_is_refused(tmp_path):
    fx = fixture_by_name("lenet5")
    graph = tmp_path / "g.onnx"
    graph.write_bytes(fx.onnx.read_bytes())
    before = graph.read_bytes()
    with pytest.raises(OutputPathError):
        export(graph, fx.ckpt, graph)
    with pytest.raises(OutputPathError):
        export(graph, fx.ckpt, fx.ckpt)
    with pytest.raises(FormatError, match="cannot export a network as MindSpore checkpoint"):
        export(graph, fx.ckpt, tmp_path / "out.ckpt")
    assert graph.read_bytes() == before


def test_cancel_stops_export_and_leaves_nothing(tmp_path):
    fx = fixture_by_name("lenet5")
    messages: list[str] = []
    job = Job(progress=lambda f, m: messages.append(m), cancel=lambda: len(messages) > 2, min_interval_s=0)
    with pytest.raises(Cancelled):
        export(fx.onnx, fx.ckpt, tmp_path / "out.onnx", job=job)
    assert list(tmp_path.iterdir()) == []

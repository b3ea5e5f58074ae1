"""Deploy packages: Triton repositories parsed with Triton's own schema, MindSpore Serving servables run against a stand-in."""

from __future__ import annotations

import json
import runpy
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from engine import formats
from engine.errors import InputError, OutputPathError, TargetError
from engine.serving.package import package
from tests_helpers import fixture_by_name


def _parse_config(path: Path):
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    return text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())


@pytest.fixture(scope="module", params=["lenet5", pytest.param("resnet18", marks=pytest.mark.slow)])
def source(request):
    fx = fixture_by_name(request.param)
    return request.param, formats.load(fx.mindir)


@pytest.fixture(scope="module")
def triton_pkg(source, tmp_path_factory):
    name, model = source
    out = tmp_path_factory.mktemp("triton")
    return name, model, package(model, "triton", out, name=name, instances=2, threads=1)


@pytest.fixture(scope="module")
def serving_pkg(source, tmp_path_factory):
    name, model = source
    out = tmp_path_factory.mktemp("serving")
    return name, model, package(model, "mindspore-serving", out, name=name)


def test_triton_layout_and_config_parse_with_tritons_schema(triton_pkg):
    name, model, result = triton_pkg
    folder = result.folder
    assert folder.name == name
    for rel in ("config.pbtxt", "1/model.onnx", "README.md", "validation.json", "validation_inputs.npz",
                "example_request.py"):
        assert (folder / rel).is_file(), rel
    cfg = _parse_config(folder / "config.pbtxt")
    ins, outs = model.io_specs()
    assert cfg.name == name and cfg.backend == "onnxruntime"
    assert cfg.max_batch_size == result.max_batch == 8
    assert cfg.HasField("dynamic_batching")
    assert [i.name for i in cfg.input] == [s.name for s in ins]
    assert [o.name for o in cfg.output] == [s.name for s in outs]
    # with batching, dims leave out the batch dimension
    assert [list(i.dims) for i in cfg.input] == [list(s.shape[1:]) for s in ins]
    assert [list(o.dims) for o in cfg.output] == [list(s.shape[1:]) for s in outs]
    from tritonclient.grpc import model_config_pb2 as mc

    assert all(i.data_type == mc.TYPE_FP32 for i in cfg.input)
    assert [(g.count, g.kind) for g in cfg.instance_group] == [(2, mc.ModelInstanceGroup.KIND_CPU)]
    assert cfg.parameters["intra_op_thread_count"].string_value == "1"
    # the packaged graph takes the batch Triton will send
    packaged = formats.load(folder / "1" / "model.onnx")
    assert all(isinstance(s.shape[0], str) for s in packaged.io_specs()[0])


def test_triton_package_is_validated_against_the_source(triton_pkg):
    name, model, result = triton_pkg
    report = json.loads((result.folder / "validation.json").read_text())
    assert report["passed"] and result
    assert report["candidate"]["target"] == "onnxruntime:cpu"
    assert report["batch_check"]["passed"] and report["batch_check"]["batch"] == 2
    assert all(o["max_abs"] <= 1e-5 for o in report["parity"]["outputs"])
    # the saved inputs and outputs are what the packaged model answers
    from engine.backends import open_session

    inputs = dict(np.load(result.folder / "validation_inputs.npz"))
    expected = dict(np.load(result.folder / "validation_outputs.npz"))
    with open_session(formats.load(result.model_file), "onnxruntime:cpu") as s:
        got = s.infer(inputs)
    for k, v in expected.items():
        np.testing.assert_allclose(got[k], v, rtol=1e-4, atol=1e-5)
    assert "tritonserver --model-repository" in (result.folder / "README.md").read_text()


class _Stage:
    def __init__(self, fn, args, outputs_count):
        self.fn, self.args, self.outputs_count = fn, args, outputs_count


def _register_stand_in():
    """A stand-in of ``mindspore_serving.server.register`` that records every call."""
    calls = {"models": [], "methods": [], "stages": []}
    register = types.ModuleType("mindspore_serving.server.register")

    def declare_model(model_file, model_format, with_batch_dim=True, options=None, without_batch_dim_inputs=None,
                      context=None, config_file=None):
        model = types.SimpleNamespace(model_file=model_file, model_format=model_format, with_batch_dim=with_batch_dim)
        calls["models"].append(model)
        return model

    def register_method(output_names):
        def wrap(fn):
            calls["methods"].append((fn, list(output_names) if isinstance(output_names, (list, tuple))
                                     else [output_names]))
            return fn
        return wrap

    def add_stage(stage, *args, outputs_count, batch_size=None, tag=None):
        calls["stages"].append(_Stage(stage, args, outputs_count))
        if outputs_count == 1:
            return f"out{len(calls['stages'])}"
        return tuple(f"out{len(calls['stages'])}_{i}" for i in range(outputs_count))

    register.declare_model = declare_model
    register.register_method = register_method
    register.add_stage = add_stage
    server = types.ModuleType("mindspore_serving.server")
    server.register = register
    root = types.ModuleType("mindspore_serving")
    root.server = server
    return {"mindspore_serving": root, "mindspore_serving.server": server,
            "mindspore_serving.server.register": register}, calls


def test_mindspore_serving_config_executes_against_register_stand_in(serving_pkg, monkeypatch):
    name, model, result = serving_pkg
    folder = result.folder
    for rel in ("servable_config.py", f"1/{name}.mindir", "serving_server.py", "serving_client.py", "README.md",
                "validation.json"):
        assert (folder / rel).is_file(), rel
    modules, calls = _register_stand_in()
    for key, mod in modules.items():
        monkeypatch.setitem(sys.modules, key, mod)
    namespace = runpy.run_path(str(folder / "servable_config.py"))

    (declared,) = calls["models"]
    assert declared.model_format == "MindIR"
    assert (folder / "1" / declared.model_file) == result.model_file
    assert declared.with_batch_dim is True
    (method, output_names) = calls["methods"][0]
    assert method.__name__ == "predict"
    ins, outs = model.io_specs()
    assert output_names == [s.name for s in outs] == ["output"]
    # calling the method walks the stages: preprocess, the declared model, postprocess
    import inspect

    params = list(inspect.signature(method).parameters)
    assert params == ["x"]
    method(*params)
    pre, run, post = calls["stages"]
    assert pre.fn is namespace["preprocess"] and pre.outputs_count == len(ins)
    assert run.fn is declared and run.outputs_count == len(outs)
    assert post.fn is namespace["postprocess"]
    # the marked pre/post-processing functions run (identity as written)
    arr = np.ones(3)
    assert namespace["preprocess"](arr) is arr and namespace["postprocess"](arr) is arr


def test_mindspore_serving_model_file_and_validation(serving_pkg):
    name, model, result = serving_pkg
    packaged = formats.load(result.model_file)
    assert [(s.name, s.shape) for s in packaged.io_specs()[0]] == [(s.name, s.shape) for s in model.io_specs()[0]]
    # unchanged MindIR: the file MindSpore wrote, byte for byte
    assert result.model_file.read_bytes() == Path(model.source_path).read_bytes()
    report = json.loads((result.folder / "validation.json").read_text())
    assert report["passed"]
    server = (result.folder / "serving_server.py").read_text()
    assert f"servable_name={name!r}" in server and "device_type='CPU'" in server
    compile(server, "serving_server.py", "exec")
    compile((result.folder / "serving_client.py").read_text(), "serving_client.py", "exec")


def test_mindspore_serving_from_onnx_writes_a_mindir(tmp_path, lenet5):
    model = formats.load(lenet5.onnx)
    result = package(model, "mindspore-serving", tmp_path, name="lenet")
    assert formats.detect(result.model_file).name == "mindir"
    assert result.passed, result.validation


def test_triton_gpu_targets_and_no_batching(tmp_path, lenet5):
    from tritonclient.grpc import model_config_pb2 as mc

    model = formats.load(lenet5.mindir)
    result = package(model, "triton", tmp_path, name="l", target="onnxruntime:tensorrt", max_batch=0,
                     graph_optimization="basic")
    cfg = _parse_config(result.folder / "config.pbtxt")
    assert cfg.max_batch_size == 0 and not cfg.HasField("dynamic_batching")
    assert list(cfg.input[0].dims) == [1, 1, 32, 32]  # no batching: the whole shape
    assert cfg.instance_group[0].kind == mc.ModelInstanceGroup.KIND_GPU
    assert cfg.optimization.execution_accelerators.gpu_execution_accelerator[0].name == "tensorrt"
    assert cfg.optimization.graph.level == -1
    assert any("not available here" in n for n in result.notes)  # validated on the CPU instead, and says so


def test_refusals_name_the_problem(tmp_path, lenet5):
    model = formats.load(lenet5.mindir)
    with pytest.raises(TargetError, match="ONNX Runtime backend"):
        package(model, "triton", tmp_path, target="mindspore:cpu")
    with pytest.raises(TargetError, match="runs on MindSpore"):
        package(model, "mindspore-serving", tmp_path, target="onnxruntime:cpu")
    with pytest.raises(InputError, match="max-batch applies to Triton"):
        package(model, "mindspore-serving", tmp_path, max_batch=4)
    package(model, "triton", tmp_path, name="m")
    with pytest.raises(OutputPathError, match="already there"):
        package(model, "triton", tmp_path, name="m")
    assert package(model, "triton", tmp_path, name="m", overwrite=True).passed
    assert not any(p.name.startswith(".m.") for p in tmp_path.iterdir())  # no staging folder left behind


def test_a_graph_that_hard_codes_its_batch_is_packaged_without_batching(tmp_path):
    from tritonclient.grpc import model_config_pb2 as mc  # noqa: F401 - the schema must be importable

    model = formats.load(fixture_by_name("tiny_transformer").mindir)  # Reshape to (1, 16, 64) inside
    result = package(model, "triton", tmp_path, name="t")
    assert result.passed and result.max_batch == 0
    assert any("no batching" in n and "hard-codes" in n for n in result.notes)
    cfg = _parse_config(result.folder / "config.pbtxt")
    assert cfg.max_batch_size == 0 and list(cfg.input[0].dims) == [1, 16]
    assert cfg.input[0].data_type == mc.TYPE_INT32
    with pytest.raises(InputError, match="cannot package with --max-batch 4: the graph hard-codes"):
        package(model, "triton", tmp_path, name="t2", max_batch=4)


def test_never_replaces_its_own_source(tmp_path, lenet5):
    import shutil

    inside = tmp_path / "m" / "1" / "model.onnx"  # where the package's model file would go
    inside.parent.mkdir(parents=True)
    shutil.copyfile(lenet5.onnx, inside)
    before = inside.read_bytes()
    with pytest.raises(OutputPathError, match="replace the model it is made from"):
        package(formats.load(inside), "triton", tmp_path, name="m", overwrite=True)
    assert inside.read_bytes() == before


def test_cli_package(tmp_path, lenet5, capsys):
    from engine.cli import main

    rc = main(["package", str(lenet5.mindir), "-f", "triton", "-o", str(tmp_path), "--name", "lenet5", "--json"])
    assert rc == 0
    data = json.loads(capsys.readouterr().out)
    assert data["passed"] and data["max_batch"] == 8
    rc = main(["package", str(lenet5.mindir), "-f", "triton", "-o", str(tmp_path), "--name", "lenet5"])
    err = capsys.readouterr().err
    assert rc == 1 and err.count("\n") == 1 and "already there" in err and "Traceback" not in err

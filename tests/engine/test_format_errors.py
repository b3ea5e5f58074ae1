"""Table of good and broken files: the format each opens as, or the exact error it gives."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from engine import formats
from engine.errors import FormatError, OutputPathError, UnsupportedOpError
from engine.formats._proto import dstudio_mind_ir_pb2 as mind_ir
from tests_helpers import fixture_or_skip

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"


def _lenet_bytes(kind: str) -> bytes:
    fx = fixture_or_skip("lenet5")
    return {"mindir": fx.mindir, "onnx": fx.onnx, "ckpt": fx.ckpt}[kind].read_bytes()


def _unknown_primitive() -> bytes:
    proto = mind_ir.ModelProto()
    proto.ParseFromString(_lenet_bytes("mindir"))
    for prim in proto.primitives:
        if prim.op_type == "ReLU":
            prim.op_type = "FancyNewActivation"
    return proto.SerializeToString()


def _onnx_tensor() -> bytes:
    return onnx.numpy_helper.from_array(np.arange(100, dtype=np.float32), "t").SerializeToString()


GOOD = [
    ("model.mindir", lambda: _lenet_bytes("mindir"), "mindir"),
    ("model.onnx", lambda: _lenet_bytes("onnx"), "onnx"),
    ("model.ckpt", lambda: _lenet_bytes("ckpt"), "ckpt"),
    # content wins over a misleading suffix
    ("really_onnx.mindir", lambda: _lenet_bytes("onnx"), "onnx"),
    ("really_mindir.onnx", lambda: _lenet_bytes("mindir"), "mindir"),
]

BROKEN = [
    ("empty.mindir", lambda: b"", FormatError, "file is empty"),
    ("empty.onnx", lambda: b"", FormatError, "file is empty"),
    ("random.mindir", lambda: os.urandom(4096), FormatError, "not a recognised model file"),
    ("random.onnx", lambda: np.random.default_rng(1).bytes(4096), FormatError, "not a recognised model file"),
    ("truncated.mindir", lambda: _lenet_bytes("mindir")[:100_000], FormatError, "not a valid MindIR file"),
    ("truncated.onnx", lambda: _lenet_bytes("onnx")[:100_000], FormatError, "ONNX"),
    ("tensor.onnx", _onnx_tensor, FormatError, "not a recognised model file"),
    ("text.onnx", lambda: b"hello, this is not a model\n" * 10, FormatError, "found text"),
]


@pytest.mark.parametrize("name,make,expected", GOOD, ids=[g[0] for g in GOOD])
def test_good_files_open_as(tmp_path, name, make, expected):
    path = tmp_path / name
    path.write_bytes(make())
    assert formats.detect(path).name == expected
    model = formats.load(path)
    assert model.source_format == expected


@pytest.mark.parametrize("name,make,error,text", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_files_give_one_clear_error(tmp_path, name, make, error, text):
    path = tmp_path / name
    path.write_bytes(make())
    with pytest.raises(error) as info:
        formats.load(path)
    message = str(info.value)
    assert text in message
    assert str(path) in message
    assert "\n" not in message


def test_unknown_primitive_opens_and_names_the_node(tmp_path):
    # A MindIR always opens; what cannot be lowered is listed, and needing ONNX refuses in one line.
    path = tmp_path / "m.mindir"
    path.write_bytes(_unknown_primitive())
    model = formats.load(path)
    assert model.unlowered and all("ReLU" in u.scope for u in model.unlowered)  # the offending nodes' scopes
    with pytest.raises(UnsupportedOpError) as info:
        model.require_graph()
    message = str(info.value)
    assert "FancyNewActivation (4 nodes, first Default/relu-ReLU/ReLU-op0)" in message
    assert str(path) in message and "\n" not in message


def test_cli_convert_unknown_primitive_exits_1_with_one_line_and_writes_nothing(tmp_path):
    src = tmp_path / "unknown_op.mindir"
    src.write_bytes(_unknown_primitive())
    out = tmp_path / "out.onnx"
    proc = _cli("convert", str(src), "-o", str(out))
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "FancyNewActivation" in lines[0]
    assert [p.name for p in tmp_path.iterdir()] == [src.name]


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(FormatError, match="no such file"):
        formats.load(tmp_path / "nope.onnx")
    with pytest.raises(FormatError, match="is a folder"):
        formats.load(tmp_path)


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], capture_output=True, text=True, cwd=cwd or ROOT)


@pytest.mark.parametrize("name,make,error,text", BROKEN, ids=[b[0] for b in BROKEN])
def test_cli_convert_bad_input_exits_1_with_one_line_and_writes_nothing(tmp_path, name, make, error, text):
    src = tmp_path / name
    src.write_bytes(make())
    out = tmp_path / "out.onnx"
    proc = _cli("convert", str(src), "-o", str(out))
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and text in lines[0]
    assert "Traceback" not in proc.stderr
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary file left behind


def test_output_equal_to_input_is_refused(tmp_path):
    src = tmp_path / "m.mindir"
    data = _lenet_bytes("mindir")
    src.write_bytes(data)
    from engine.convert import convert

    with pytest.raises(OutputPathError):
        convert(src, src, fmt="onnx")
    proc = _cli("convert", str(src), "-o", str(src), "--to", "onnx")
    assert proc.returncode == 1 and "same as an input" in proc.stderr
    assert src.read_bytes() == data


def test_checkpoint_is_not_a_network(tmp_path):
    fx = fixture_or_skip("lenet5")
    proc = _cli("convert", str(fx.ckpt), "-o", str(tmp_path / "x.onnx"))
    assert proc.returncode == 1 and "parameter file, not a network" in proc.stderr


def test_usage_errors_exit_2(tmp_path):
    assert _cli("convert").returncode == 2
    assert _cli("no-such-command").returncode == 2
    assert _cli("inspect").returncode == 2

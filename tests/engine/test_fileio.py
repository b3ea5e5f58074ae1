"""Safe writes: outputs get the user's umask, stale temporaries of killed writers go, inputs are never written."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from engine import formats
from engine.cli import main
from engine.fileio import atomic_path, atomic_write_bytes, clean_stale_parts

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    try:
        yield
    finally:
        os.umask(old)


def test_outputs_get_the_umask_not_0600(tmp_path, umask_027):
    target = tmp_path / "out.bin"
    atomic_write_bytes(target, b"x")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    os.umask(0o022)
    atomic_write_bytes(target, b"y")
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_saved_model_files_get_the_umask(tmp_path, lenet5):
    old = os.umask(0o022)
    try:
        formats.save(formats.load(lenet5.ckpt), tmp_path / "p.npz")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "p.npz").stat().st_mode) == 0o644


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_parts_of_dead_writers_are_removed(tmp_path):
    dead = tmp_path / f".model.onnx.{_dead_pid()}.abc123.part"
    dead.write_bytes(b"half a file")
    alive = tmp_path / f".model.onnx.{os.getpid()}.def456.part"
    alive.write_bytes(b"being written")
    unrelated = tmp_path / ".notes.part"
    unrelated.write_bytes(b"not ours")
    with atomic_path(tmp_path / "other.bin") as tmp:
        tmp.write_bytes(b"z")
    assert not dead.exists() and alive.exists() and unrelated.exists()
    assert clean_stale_parts(tmp_path) == []


def test_a_killed_conversion_leaves_nothing_after_the_next_write(tmp_path, lenet5):
    """SIGKILL mid-write leaves a hidden .part; the next write into the folder removes it."""
    script = textwrap.dedent(f"""
        import os, signal
        from engine.fileio import atomic_path
        with atomic_path({str(tmp_path / 'out.onnx')!r}) as tmp:
            tmp.write_bytes(b"partial")
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT)
    assert proc.returncode == -signal.SIGKILL
    assert [p.name.endswith(".part") for p in tmp_path.iterdir()] == [True]
    assert main(["convert", str(lenet5.mindir), "-o", str(tmp_path / "out.onnx")]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.onnx"]


def _external_model(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((64, 16)).astype(np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = folder / "m.onnx"
    onnx.save_model(model, str(path), save_as_external_data=True, location="m.onnx.data", size_threshold=0)
    return path


def test_convert_refuses_to_write_over_the_inputs_external_data(tmp_path, capsys):
    model = _external_model(tmp_path)
    data = tmp_path / "m.onnx.data"
    before = data.read_bytes()
    code = main(["convert", str(model), "-o", str(data), "--to", "mindir"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and "same as an input" in err[0]
    assert data.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "m.onnx.data"]
    assert formats.input_files(formats.load(model)) == [model, data]


@pytest.mark.parametrize("fmt", ["ckpt", "npz", "safetensors"])
def test_parameter_writers_refuse_an_empty_set(tmp_path, fmt):
    """An empty checkpoint is an empty file, which no reader opens: refuse instead of writing it."""
    from engine.errors import FormatError
    from engine.model import Model
    from engine.params import ParameterSet

    with pytest.raises(FormatError, match="nothing to write"):
        formats.save(Model(params=ParameterSet(), source_format="npz"), tmp_path / f"p.{fmt}", fmt=fmt)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", ["ckpt", "npz", "safetensors"])
def test_parameter_writers_refuse_names_that_would_not_read_back(tmp_path, fmt):
    from engine.errors import FormatError
    from engine.model import Model
    from engine.params import ParameterSet

    params = ParameterSet([("", np.zeros(2, np.float32))])
    with pytest.raises(FormatError):
        formats.save(Model(params=params, source_format="npz"), tmp_path / f"p.{fmt}", fmt=fmt)
    assert list(tmp_path.iterdir()) == []

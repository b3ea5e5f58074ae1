"""Default output names never land on an existing file."""

from __future__ import annotations


def test_free_path_never_names_an_existing_file(tmp_path):
    from engine.fileio import free_path

    target = tmp_path / "model.onnx"
    assert free_path(target) == target
    target.write_bytes(b"x")
    assert free_path(target) == tmp_path / "model-1.onnx"
    (tmp_path / "model-1.onnx").write_bytes(b"x")
    assert free_path(target) == tmp_path / "model-2.onnx"
    assert free_path(tmp_path / "new.onnx", avoid=[tmp_path / "new.onnx"]) == tmp_path / "new-1.onnx"

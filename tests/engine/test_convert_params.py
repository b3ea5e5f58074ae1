"""Parameter files convert between ckpt, safetensors and npz with every tensor kept exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine import formats
from engine.convert import convert
from engine.errors import FormatError

LENET = Path(__file__).resolve().parents[1] / "data" / "mindspore" / "lenet5"


def test_ckpt_safetensors_npz_round_trip(tmp_path):
    source = formats.load(LENET / "model.ckpt").params
    st = convert(LENET / "model.ckpt", tmp_path / "w.safetensors")
    assert st.format == "safetensors" and st.source_format == "ckpt"
    convert(tmp_path / "w.safetensors", tmp_path / "w.npz")
    convert(tmp_path / "w.npz", tmp_path / "back.ckpt")
    back = formats.load(tmp_path / "back.ckpt").params
    assert sorted(back) == sorted(source)  # safetensors keeps names, not their order
    for name in source:
        np.testing.assert_array_equal(np.asarray(back[name]), np.asarray(source[name]))
        assert np.asarray(back[name]).dtype == np.asarray(source[name]).dtype


def test_network_to_parameter_format_is_refused(tmp_path):
    with pytest.raises(FormatError, match="is a network, not a parameter file"):
        convert(LENET / "model.onnx", tmp_path / "w.npz")
    assert not (tmp_path / "w.npz").exists()
    with pytest.raises(FormatError, match="parameter file, not a network"):
        convert(LENET / "model.ckpt", tmp_path / "m.onnx")


def test_cli_converts_parameter_files(tmp_path, capsys):
    from engine.cli import main

    out = tmp_path / "w.npz"
    assert main(["convert", str(LENET / "model.ckpt"), "-o", str(out)]) == 0
    assert sorted(formats.load(out).params) == sorted(formats.load(LENET / "model.ckpt").params)
    assert main(["convert", str(LENET / "model.onnx"), "-o", str(tmp_path / "x.safetensors")]) == 1
    assert "is a network, not a parameter file" in capsys.readouterr().err

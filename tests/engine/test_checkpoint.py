"""MindSpore checkpoints: bit-exact round trips, MindSpore's own files and reader, broken files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

from engine import formats
from engine.errors import FormatError
from engine.formats import checkpoint
from engine.formats._proto import dstudio_checkpoint_pb2 as ckpt_pb
from engine.jobs import Job
from engine.model import Model
from engine.params import ParameterSet
from tests_helpers import ALL_NAMES, fixture_by_name

PARAMS_DATA = Path(__file__).resolve().parents[1] / "data" / "params"
MIXED = PARAMS_DATA / "mixed.ckpt"


def _entry(tag: str, type_str: str, dims: list[int], content: bytes) -> bytes:
    message = ckpt_pb.Checkpoint()
    value = message.value.add()
    value.tag = tag
    value.tensor.dims.extend(dims)
    value.tensor.tensor_type = type_str
    value.tensor.tensor_content = content
    return message.SerializeToString()


@pytest.mark.parametrize("name", ALL_NAMES)
def test_fixture_checkpoint_round_trip_is_bit_exact(name, tmp_path):
    fx = fixture_by_name(name)
    model = formats.load(fx.ckpt)
    assert model.source_format == "ckpt" and model.onnx is None
    assert list(model.params) == fx.meta["param_names"]
    assert sum(a.size for a in model.params.values()) == fx.meta["param_count"]
    out = tmp_path / "copy.ckpt"
    formats.save(model, out)
    assert out.read_bytes() == fx.ckpt.read_bytes()


def test_mixed_dtypes_written_by_mindspore_read_back_exactly(tmp_path):
    model = formats.load(MIXED)
    with np.load(PARAMS_DATA / "mixed_expected.npz") as expected:
        assert sorted(model.params) == sorted(expected.files)
        for name in expected.files:
            got, want = model.params[name], expected[name]
            assert got.shape == want.shape, name
            if got.dtype == ml_dtypes.bfloat16:
                got = got.astype(np.float32)
            assert got.dtype == want.dtype, name
            np.testing.assert_array_equal(got, want, err_msg=name)
    assert str(model.params["note"]) == "trained with dstudio"
    formats.save(model, tmp_path / "copy.ckpt")
    assert (tmp_path / "copy.ckpt").read_bytes() == MIXED.read_bytes()


def test_sniff_tells_checkpoints_from_mindir_and_onnx():
    fx = fixture_by_name("lenet5")
    assert checkpoint.sniff(fx.ckpt.read_bytes()[:65536], fx.ckpt)
    assert not checkpoint.sniff(fx.mindir.read_bytes()[:65536], fx.mindir)
    assert not checkpoint.sniff(fx.onnx.read_bytes()[:65536], fx.onnx)
    assert formats.detect(fx.ckpt).name == "ckpt"
    assert formats.detect(MIXED).name == "ckpt"


def test_split_tensor_is_joined_and_rewritten_in_the_same_pieces(tmp_path):
    weight = np.arange(30, dtype=np.float32).reshape(6, 5)
    raw = weight.tobytes()
    pieces = [raw[:40], raw[40:100], raw[100:]]  # uneven, as an older writer might cut
    data = _entry("a.bias", "Float32", [2], np.ones(2, np.float32).tobytes())
    data += b"".join(_entry("big.weight", "Float32", [6, 5], p) for p in pieces)
    data += _entry("z", "Int32", [], np.int32(7).tobytes())
    src = tmp_path / "split.ckpt"
    src.write_bytes(data)
    model = formats.load(src)
    assert list(model.params) == ["a.bias", "big.weight", "z"]
    np.testing.assert_array_equal(model.params["big.weight"], weight)
    assert model.params["z"].shape == () and model.params["z"] == 7
    formats.save(model, tmp_path / "again.ckpt")
    assert (tmp_path / "again.ckpt").read_bytes() == data


def test_large_tensor_is_written_in_mindspore_sized_pieces(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoint, "CHUNK_BYTES", 64)  # MindSpore cuts at 512 MiB
    params = ParameterSet({"w": np.arange(50, dtype=np.float32), "b": np.zeros(3, np.float32)})
    out = tmp_path / "w.ckpt"
    formats.save(Model(params=params), out)
    message = ckpt_pb.Checkpoint.FromString(out.read_bytes())
    assert [(v.tag, len(v.tensor.tensor_content)) for v in message.value] == [
        ("w", 64), ("w", 64), ("w", 64), ("w", 8), ("b", 12)]
    assert all(list(v.tensor.dims) == [50] for v in message.value[:4])
    back = formats.load(out)
    assert "ckpt.layout" not in back.metadata  # default pieces need no record
    np.testing.assert_array_equal(back.params["w"], params["w"])
    formats.save(back, tmp_path / "w2.ckpt")
    assert (tmp_path / "w2.ckpt").read_bytes() == out.read_bytes()


def test_legacy_scalar_dims_and_crc_trailer_round_trip(tmp_path):
    import binascii

    body = _entry("step", "Int64", [0], np.int64(42).tobytes()) + _entry("lr", "Float32", [], np.float32(0.5).tobytes())
    data = body + b"crc_num" + binascii.crc32(body).to_bytes(10, "big")
    src = tmp_path / "crc.ckpt"
    src.write_bytes(data)
    model = formats.load(src)
    assert model.params["step"].shape == () and int(model.params["step"]) == 42
    formats.save(model, tmp_path / "out.ckpt")
    assert (tmp_path / "out.ckpt").read_bytes() == data
    bad = tmp_path / "bad_crc.ckpt"
    bad.write_bytes(body[:-1] + b"\x00" + data[len(body):])
    with pytest.raises(FormatError, match="CRC check failed"):
        formats.load(bad)


def test_save_reports_progress_and_refuses_unstorable_dtypes(tmp_path):
    seen: list[float] = []
    params = ParameterSet({f"t{i}": np.full(4, i, np.float16) for i in range(5)})
    formats.save(Model(params=params), tmp_path / "p.ckpt", job=Job(progress=lambda f, m: seen.append(f),
                                                                      min_interval_s=0))
    assert seen and seen[-1] == 1.0
    with pytest.raises(FormatError, match="'c' has dtype complex64"):
        formats.save(Model(params=ParameterSet({"c": np.zeros(2, np.complex64)})), tmp_path / "c.ckpt")
    assert not (tmp_path / "c.ckpt").exists()


def _lenet_ckpt() -> bytes:
    return fixture_by_name("lenet5").ckpt.read_bytes()


BROKEN = [
    ("empty", lambda: b"", "file is empty"),
    ("truncated", lambda: _lenet_ckpt()[:100_000], "truncated: the entry at byte"),
    ("random", lambda: np.random.default_rng(3).bytes(4096), "not a MindSpore checkpoint"),
    ("onnx_renamed", lambda: fixture_by_name("lenet5").onnx.read_bytes(), "not a MindSpore checkpoint: this is ONNX"),
    ("mindir_renamed", lambda: fixture_by_name("lenet5").mindir.read_bytes(), "not a MindSpore checkpoint"),
    ("unknown_dtype", lambda: _entry("w", "Float99", [2], b"\0" * 8), "tensor 'w' has dtype 'Float99'"),
    ("int4", lambda: _entry("q", "Int4", [4], b"\0" * 2), "tensor 'q' has dtype 'Int4'"),
    ("short_content", lambda: _entry("fc.weight", "Float32", [3, 4], b"\0" * 40),
     "tensor 'fc.weight' holds 40 bytes but dims [3, 4] of Float32 need 48"),
    ("no_tag", lambda: _entry("", "Float32", [1], b"\0" * 4), "has no name"),
    ("split_dtype_change", lambda: _entry("w", "Float32", [2], b"\0" * 4) + _entry("w", "Float16", [2], b"\0" * 4),
     "tensor 'w' changes dims or dtype between its pieces"),
]


@pytest.mark.parametrize("case,make,message", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_checkpoints_give_one_clear_error_naming_the_file(case, make, message, tmp_path):
    path = tmp_path / f"{case}.ckpt"
    path.write_bytes(make())
    with pytest.raises(FormatError) as info:
        formats.load(path, fmt="ckpt")
    text = str(info.value)
    assert message in text
    assert str(path) in text and "\n" not in text


def test_random_bytes_named_ckpt_are_not_recognised(tmp_path):
    path = tmp_path / "weights.ckpt"
    path.write_bytes(os.urandom(64) + b"\xff" * 64)
    with pytest.raises(FormatError, match="expected MindSpore checkpoint"):
        formats.load(path)


def test_onnx_named_ckpt_opens_as_what_it_is(tmp_path):
    path = tmp_path / "weights.ckpt"
    path.write_bytes(fixture_by_name("lenet5").onnx.read_bytes())
    assert formats.detect(path).name == "onnx"  # content wins; the reader itself refuses it (above)


@pytest.mark.mindspore
def test_mindspore_reads_what_we_write(tmp_path, monkeypatch):
    import mindspore as ms

    monkeypatch.setattr(checkpoint, "CHUNK_BYTES", 100)  # exercise split tensors on MindSpore's reader
    source = formats.load(MIXED).params
    rng = np.random.default_rng(11)
    changed = ParameterSet()
    for name, array in source.items():
        if array.dtype.kind == "U":
            changed[name] = np.asarray("rewritten by dstudio")
        elif array.dtype == np.bool_:
            changed[name] = ~array
        else:
            changed[name] = (array + rng.integers(1, 5, array.shape)).astype(array.dtype)
    changed["wide.weight"] = rng.standard_normal((20, 7)).astype(np.float32)  # 560 bytes: 6 pieces
    out = tmp_path / "ours.ckpt"
    formats.save(Model(params=changed), out)
    loaded = ms.load_checkpoint(str(out))
    assert sorted(loaded) == sorted(changed)
    for name, want in changed.items():
        got = loaded[name]
        if want.dtype.kind == "U":
            assert got == str(want)
            continue
        if want.dtype == ml_dtypes.bfloat16:  # MindSpore's numpy bridge lacks bfloat16 here
            assert got.dtype == ms.bfloat16, name
            got, want = got.astype(ms.float32).asnumpy(), want.astype(np.float32)
        else:
            got = got.asnumpy()
        assert got.shape == want.shape and got.dtype == want.dtype, name
        np.testing.assert_array_equal(got, want, err_msg=name)


@pytest.mark.mindspore
def test_checkpoint_mindspore_writes_with_crc_round_trips(tmp_path):
    import mindspore as ms

    path = tmp_path / "ms.ckpt"
    weights = {"w": np.arange(12, dtype=np.float32).reshape(3, 4), "n": np.array([1, 2], np.int64)}
    ms.save_checkpoint([{"name": k, "data": ms.Tensor(v)} for k, v in weights.items()], str(path),
                       crc_check=True, append_dict={"epoch": 3})
    model = formats.load(path)
    assert json.loads(model.metadata["ckpt.layout"])["crc"] is True
    for k, v in weights.items():
        np.testing.assert_array_equal(model.params[k], v)
    assert int(model.params["epoch"]) == 3
    path.chmod(0o644)
    formats.save(model, tmp_path / "copy.ckpt")
    assert (tmp_path / "copy.ckpt").read_bytes() == path.read_bytes()

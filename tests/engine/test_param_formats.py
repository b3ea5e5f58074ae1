"""safetensors and npz parameter files: sniffing, round trips through the checkpoint, broken files."""

from __future__ import annotations

import zipfile
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

from engine import formats
from engine.errors import FormatError
from engine.formats import npz_format, safetensors_format
from engine.model import Model
from engine.params import ParameterSet
from tests_helpers import LOCAL_NAMES, fixture_by_name

MIXED = Path(__file__).resolve().parents[1] / "data" / "params" / "mixed.ckpt"


def _assert_same(got: ParameterSet, want: ParameterSet) -> None:
    assert sorted(got) == sorted(want)
    for name, array in want.items():
        assert got[name].dtype == array.dtype, name
        assert got[name].shape == array.shape, name
        np.testing.assert_array_equal(got[name], array, err_msg=name)


@pytest.mark.parametrize("ext", ["safetensors", "npz"])
@pytest.mark.parametrize("source", [*LOCAL_NAMES, "mixed"])
def test_ckpt_to_other_and_back_keeps_values_and_dtypes(source, ext, tmp_path):
    ckpt = MIXED if source == "mixed" else fixture_by_name(source).ckpt
    original = formats.load(ckpt)
    middle = tmp_path / f"params.{ext}"
    formats.save(original, middle)
    assert formats.detect(middle).name == ext
    loaded = formats.load(middle)
    assert loaded.source_format == ext
    _assert_same(loaded.params, original.params)
    formats.save(loaded, tmp_path / "back.ckpt")
    _assert_same(formats.load(tmp_path / "back.ckpt").params, original.params)


def test_safetensors_written_by_the_library_reads_back(tmp_path):
    from safetensors.numpy import save_file

    want = {"a": np.arange(6, dtype=np.float16).reshape(2, 3), "b": np.array([True, False]),
            "c": np.arange(4).astype(ml_dtypes.bfloat16)}
    path = tmp_path / "lib.safetensors"
    save_file(want, str(path), metadata={"format": "pt"})
    model = formats.load(path)
    _assert_same(model.params, ParameterSet(want))
    assert model.metadata["safetensors.format"] == "pt"


def test_npz_written_by_numpy_reads_back_and_ours_reads_in_numpy(tmp_path):
    want = {"w": np.ones((2, 2), np.float32), "i": np.arange(3, dtype=np.int64), "s": np.asarray(np.float64(3.5))}
    path = tmp_path / "plain.npz"
    np.savez(path, **want)
    _assert_same(formats.load(path).params, ParameterSet(want))
    ours = tmp_path / "ours.npz"
    formats.save(Model(params=ParameterSet(want)), ours)
    with np.load(ours, allow_pickle=False) as archive:
        _assert_same(ParameterSet({k: archive[k] for k in archive.files}), ParameterSet(want))


def test_sniffers_look_at_content_not_names(tmp_path):
    np.savez(tmp_path / "a.npz", x=np.zeros(2))
    (tmp_path / "a.npz").rename(tmp_path / "weights.bin")
    assert formats.detect(tmp_path / "weights.bin").name == "npz"
    lenet = fixture_by_name("lenet5")
    head = lenet.ckpt.read_bytes()[:4096]
    assert not safetensors_format.sniff(head, lenet.ckpt) and not npz_format.sniff(head, lenet.ckpt)
    with zipfile.ZipFile(tmp_path / "docs.zip", "w") as zf:
        zf.writestr("readme.txt", "not arrays")
    assert not npz_format.sniff((tmp_path / "docs.zip").read_bytes(), tmp_path / "docs.zip")


def test_npz_refuses_pickled_object_arrays(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, ok=np.zeros(2), evil=np.array([{"run": "code"}], dtype=object))
    with pytest.raises(FormatError, match="'evil' holds Python objects"):
        formats.load(path)


def _safetensors_bytes() -> bytes:
    from safetensors.numpy import save

    return save({"w": np.arange(64, dtype=np.float32)})


BROKEN = [
    ("empty.safetensors", lambda: b"", None, "file is empty"),
    ("empty.npz", lambda: b"", None, "file is empty"),
    ("truncated.safetensors", lambda: _safetensors_bytes()[:150], "safetensors", "truncated: tensors need"),
    ("badheader.safetensors", lambda: (20).to_bytes(8, "little") + b"{not json at all!!!" + b"\0" * 8,
     "safetensors", "header is not valid JSON"),
    ("random.safetensors", lambda: np.random.default_rng(5).bytes(2048), "safetensors", "not safetensors, or truncated"),
    ("random.npz", lambda: np.random.default_rng(6).bytes(2048), "npz", "not a zip archive"),
    ("truncated.npz", lambda: _npz_bytes()[:200], "npz", "not a zip archive, or truncated"),
]


def _npz_bytes() -> bytes:
    import io

    buffer = io.BytesIO()
    np.savez(buffer, w=np.arange(1000, dtype=np.float32))
    return buffer.getvalue()


@pytest.mark.parametrize("name,make,fmt,message", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_parameter_files_give_one_clear_error(name, make, fmt, message, tmp_path):
    path = tmp_path / name
    path.write_bytes(make())
    with pytest.raises(FormatError) as info:
        formats.load(path, fmt=fmt)
    text = str(info.value)
    assert message in text and str(path) in text and "\n" not in text


def test_random_bytes_are_not_sniffed_as_parameters(tmp_path):
    path = tmp_path / "random.safetensors"
    path.write_bytes(np.random.default_rng(7).bytes(2048))
    with pytest.raises(FormatError, match="not a recognised model file: expected safetensors"):
        formats.load(path)

"""Regenerate the broken-file reproducers in this folder and manifest.json from the fixtures.

Each reproducer is one defect the fuzz harness (tests/fuzz, scripts/fuzz.py) or the
hardening issue found: a crash (SIGABRT in ONNX's C++ shape inference), a memory blow-up,
an untyped exception or an output that did not read back. The manifest gives, per file,
the commands to run and the exact text the one-line error must contain; the table test
(tests/fuzz/test_broken_files.py) runs each through the CLI: exit 1, one line, nothing
written. Run: ``.venv/bin/python tests/data/broken/make_broken.py``.
"""

from __future__ import annotations

import io
import json
import struct
import sys
import zipfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

HERE = Path(__file__).resolve().parent
DATA = HERE.parent
sys.path.insert(0, str(DATA.parents[1]))

from engine.formats._proto import dstudio_mind_ir_pb2 as pb  # noqa: E402

BOTH = ["inspect", "convert"]
ENTRIES: list[dict] = []


def entry(name: str, fmt: str, commands: list[str], error: str, defect: str, extra: dict[str, bytes] | None = None,
          data: bytes = b"") -> None:
    folder = HERE / name
    folder.mkdir(exist_ok=True)
    main = f"model.{fmt}"
    (folder / main).write_bytes(data)
    for other, blob in (extra or {}).items():
        (folder / other).write_bytes(blob)
    ENTRIES.append({"file": f"{name}/{main}", "format": fmt, "commands": commands, "error": error, "defect": defect})


def onnx_fixture(name: str = "mlp_bn_dropout") -> onnx.ModelProto:
    return onnx.load(str(DATA / "mindspore" / name / "model.onnx"))


def mindir_fixture(path: str) -> pb.ModelProto:
    return pb.ModelProto.FromString((DATA / path).read_bytes())


# ---------------------------------------------------------------- ONNX


def make_onnx() -> None:
    m = onnx_fixture()
    m.graph.input[0].type.tensor_type.shape.dim[0].dim_value = -2
    entry("onnx_negative_input_dim", "onnx", BOTH, "has dimension -2 at axis 0; dimensions must be >= 0",
          "SIGABRT in ONNX C++ shape inference (std::clamp) from engine/flops.py and the writer", data=m.SerializeToString())
    m = onnx_fixture("lenet5")
    pool = next(n for n in m.graph.node if n.op_type == "MaxPool")
    next(a for a in pool.attribute if a.name == "kernel_shape").ints[0] = 255
    entry("onnx_negative_inferred_dim", "onnx", ["convert"], "is larger than the padded input",
          "fuzz find: a MaxPool window wider than its input infers a negative dim; the MindIR written "
          "declared it and did not read back (now refused earlier: the window is checked against the padded "
          "input)", data=m.SerializeToString())

    m = onnx_fixture()
    x = m.graph.input[0]
    x.type.tensor_type.shape.dim[1].dim_value = -3
    m.graph.node.add(op_type="Slice", name="cut", input=[x.name, "starts", "ends"], output=["cut_out"])
    m.graph.initializer.extend([helper.make_tensor("starts", TensorProto.INT64, [1], [0]),
                                helper.make_tensor("ends", TensorProto.INT64, [1], [2])])
    entry("onnx_slice_on_negative_dim", "onnx", BOTH, "has dimension -3 at axis 1",
          "SIGABRT: Slice on an input with a negative dim", data=m.SerializeToString())

    m = onnx_fixture()
    vi = m.graph.value_info.add(name=m.graph.node[0].output[0])
    vi.type.tensor_type.elem_type = TensorProto.FLOAT
    for _ in range(4):
        vi.type.tensor_type.shape.dim.add().dim_value = 2**40
    entry("onnx_value_info_absurd_shape", "onnx", BOTH, "elements, more than any model holds",
          "memory blow-up: value_info with absurd shapes", data=m.SerializeToString())

    m = onnx_fixture()
    m.graph.input[0].type.tensor_type.elem_type = 255
    entry("onnx_unknown_elem_type", "onnx", BOTH, "has element type 255, which is not an ONNX data type",
          "KeyError in engine/inspect.py (_value_info)", data=m.SerializeToString())

    raw = onnx_fixture().SerializeToString()
    version = onnx_fixture().producer_version.encode()
    entry("onnx_producer_not_utf8", "onnx", BOTH, "the model's producer_version is not UTF-8 text",
          "UnicodeDecodeError in engine/model.py copy_without_weights (convert)",
          data=raw.replace(version, b"\xbd" * len(version), 1))

    m = onnx_fixture()
    t = next(t for t in m.graph.initializer if t.HasField("raw_data") and len(t.dims) == 2)
    t.dims[0] = 2**31
    entry("onnx_initializer_dims_past_bytes", "onnx", BOTH, "data bytes but its dims",
          "memory blow-up / KeyError: initializer dims multiply past the bytes present", data=m.SerializeToString())

    for label, key, value, error in (
        ("negative_offset", "offset", "-4096", "external data offset '-4096' is not a whole number >= 0"),
        ("past_end", "length", str(2**40), "lie past the end of 'weights.bin'"),
        ("outside_folder", "location", "../weights.bin", "outside the model's folder"),
        ("into_itself", "location", "model.onnx", "which is not a separate data file"),
    ):
        m = onnx_fixture()
        sidecar = bytearray()
        for t in m.graph.initializer:
            if t.HasField("raw_data") and len(t.raw_data) > 64:
                offset = len(sidecar)
                sidecar += t.raw_data
                length = len(t.raw_data)
                t.ClearField("raw_data")
                t.data_location = TensorProto.EXTERNAL
                for k, v in (("location", "weights.bin"), ("offset", str(offset)), ("length", str(length))):
                    t.external_data.add(key=k, value=v)
        victim = next(t for t in m.graph.initializer if t.data_location == TensorProto.EXTERNAL)
        next(e for e in victim.external_data if e.key == key).value = value
        entry(f"onnx_external_{label}", "onnx", BOTH, error, f"external data {key} {value!r}",
              extra={"weights.bin": bytes(sidecar)}, data=m.SerializeToString())


# ---------------------------------------------------------------- MindIR


def make_mindir() -> None:
    p = mindir_fixture("mindir_ops/recurrent/model.mindir")
    attr = next(a for prim in p.primitives if prim.op_type == "LSTM" for a in prim.attribute if a.name == "hidden_size")
    attr.i = 2**31
    entry("mindir_lstm_hidden_size_2e31", "mindir", ["convert"], "LSTM hidden_size 2147483648 and input_size",
          "memory blow-up: 16 GiB allocated from an LSTM hidden_size attribute", data=p.SerializeToString())

    p = mindir_fixture("mindir_ops/elementwise_math/model.mindir")
    prim = p.primitives.add(name="fz_mt", op_type="MakeTuple")
    previous = p.graph.output[0].name
    for i in range(1500):
        node = p.graph.node.add(op_type=f"REF::{prim.name}", name=f"t{i}")
        node.input.append(previous)
        node.output.append(f"t{i}")
        previous = f"t{i}"
    p.graph.output[0].name = previous
    entry("mindir_nested_maketuple_1500", "mindir", BOTH, "nests tuples 65 deep (MakeTuple of MakeTuple ...)",
          "RecursionError on 1,500 nested MakeTuple nodes", data=p.SerializeToString())

    data = bytearray((DATA / "mindir_ops/elementwise_math/model.mindir").read_bytes())
    marker = b"CNode_61"
    at = data.index(marker)
    data[at:at + 2] = b"\xff\xfe"
    entry("mindir_non_utf8_node_name", "mindir", BOTH, "is not UTF-8 text",
          "TypeError (bytes names) in reader.short", data=bytes(data))

    p = mindir_fixture("mindir_ops/elementwise_math/model.mindir")
    p.graph.input[0].tensor[0].dims[0] = 2**40
    entry("mindir_input_dims_absurd", "mindir", BOTH, "has 4.4e+12 elements, more than any model holds",
          "converted ONNX failed the checker / absurd allocation from declared input dims", data=p.SerializeToString())

    p = mindir_fixture("mindir_ops/elementwise_math/model.mindir")
    node = next(n for n in p.graph.node if any(a.name == "shape" and a.tensors for a in n.attribute))
    next(a for a in node.attribute if a.name == "shape").tensors[0].dims[0] = 2**62
    entry("mindir_output_shape_absurd", "mindir", BOTH, "declared output of node",
          "converted ONNX fails onnx.checker full_check (declared output shape 2^62)", data=p.SerializeToString())

    p = mindir_fixture("mindir_ops/elementwise_math/model.mindir")
    p.graph.input[0].tensor[0].data_type = 0
    entry("mindir_input_dtype_undefined", "mindir", BOTH, "tensor data type UNDEFINED is not supported",
          "ValueError from the lowering, typed only by formats.load's catch-all", data=p.SerializeToString())

    p = mindir_fixture("mindir_ops/elementwise_math/model.mindir")
    const = next(n for n in p.graph.node if n.op_type == "Constant")
    value = next(a for a in const.attribute if a.name == "value")
    if value.HasField("t"):
        value.t.data_type = 2**31 - 1
    else:
        value.tensors[0].data_type = 2**31 - 1
    entry("mindir_unknown_tensor_dtype", "mindir", BOTH, "tensor data type 2147483647 is not supported",
          "ValueError typed only by formats.load's catch-all", data=p.SerializeToString())


# ---------------------------------------------------------------- parameter files


def _checkpoint(entries: list[tuple[bytes, list[int], str, bytes]]) -> bytes:
    from engine.formats._proto.dstudio_checkpoint_pb2 import Checkpoint

    out = b""
    for tag, dims, type_str, content in entries:
        msg = Checkpoint()
        v = msg.value.add()
        v.tag = "x" * len(tag)
        v.tensor.dims.extend(dims)
        v.tensor.tensor_type = type_str
        v.tensor.tensor_content = content
        out += msg.SerializeToString().replace(b"x" * len(tag), tag, 1)
    return out


def make_params() -> None:
    data = _checkpoint([(b"ok.weight", [2], "Float32", b"\0" * 8), (b"bad\xff\xfename", [2], "Float32", b"\0" * 8)])
    entry("ckpt_non_utf8_tag", "ckpt", ["inspect"], "has a name that is not UTF-8 text",
          "TypeError in inspect (bytes tag); safetensors writer failed on the name", data=data)

    data = _checkpoint([(b"w", [2**32, 2**32], "Float32", b"")])
    entry("ckpt_dims_wrap_around", "ckpt", ["inspect"], "holds 0 bytes but dims [4294967296, 4294967296]",
          "numpy's int64 product of dims wrapped to 0", data=data)

    data = _checkpoint([(b"note", [0], "str", "caf\u00e9".encode("utf-32-le")[:-2] + b"\0\xd8")])
    entry("ckpt_string_not_utf32", "ckpt", ["inspect"], "is not valid UTF-32 text",
          "checkpoint strings that did not survive a round trip", data=data)

    def npz(members: list[tuple[str, bytes]], compression=zipfile.ZIP_STORED) -> bytes:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", compression) as zf:
            for name, body in members:
                zf.writestr(zipfile.ZipInfo(name), body, compress_type=compression)
        return out.getvalue()

    def npy(shape, descr="<f4", body=b"") -> bytes:
        text = f"{{'descr': {descr!r}, 'fortran_order': False, 'shape': {tuple(shape)!r}, }}"
        text += " " * (64 - (10 + len(text) + 1) % 64) + "\n"
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode("latin1") + body

    entry("npz_member_declares_2e40", "npz", ["inspect"], "declares shape [1099511627776] of float32",
          "memory blow-up: npz member declaring 2^40 elements", data=npz([("w.npy", npy((2**40,), body=b"\0" * 64))]))
    entry("npz_empty_member_name", "npz", ["inspect"], "member '.npy' has an empty array name",
          "npz -> ckpt wrote a file that did not read back (empty tag)", data=npz([(".npy", npy((2,), body=b"\0" * 8))]))
    entry("npz_member_not_npy", "npz", ["inspect"], "member 'raw' is not a .npy array",
          "npz member without .npy became a bytes parameter", data=npz([("w.npy", npy((2,), body=b"\0" * 8)),
                                                                        ("raw", b"hello")]))
    bomb = bytearray(npz([("w.npy", npy((4,), body=b"\0" * 16))], zipfile.ZIP_DEFLATED))
    central = bomb.index(b"PK\x01\x02")
    bomb[central + 24:central + 28] = struct.pack("<I", 2**31)
    entry("npz_size_beyond_deflate", "npz", ["inspect"], "more than compression can produce",
          "slow refusal / allocation from a member's declared size", data=bytes(bomb))
    entry("npz_text_past_unicode", "npz", ["inspect"], "holds text that is not valid Unicode",
          "SystemError (invalid maximum character) writing the string to a checkpoint",
          data=npz([("w.npy", npy((2,), body=b"\0" * 8)), ("note.npy", npy((), "<U2", b"a\0\0\0\0\0\x11\x00"))]))
    entry("npz_pickled_object", "npz", ["inspect"], "holds Python objects (pickled); refusing to unpickle it",
          "pickle", data=npz([("o.npy", npy((1,), "|O", b"\x80\x04N."))]))

    def st(header: bytes, body: bytes = b"\0" * 16) -> bytes:
        return len(header).to_bytes(8, "little") + header + body

    entry("safetensors_nested_5000", "safetensors", ["inspect"], "header nests too deeply",
          "RecursionError in the JSON decoder", data=st(b'{"x": ' + b"[" * 5000 + b"]" * 5000 + b"}"))
    entry("safetensors_shape_2e40", "safetensors", ["inspect"], "needs 4398046511104 bytes but data_offsets span 16",
          "memory blow-up from a declared shape",
          data=st(json.dumps({"w": {"dtype": "F32", "shape": [2**40], "data_offsets": [0, 16]}}).encode()))
    entry("safetensors_shape_of_20k_dims", "safetensors", ["inspect"], "is not a list of at most 64 whole numbers",
          "slow refusal: a header with a huge list",
          data=st(json.dumps({"w": {"dtype": "F32", "shape": [1] * 20000, "data_offsets": [0, 4]}}).encode(), b"\0" * 4))
    entry("safetensors_unknown_dtype", "safetensors", ["inspect"], "dtype 'XX' is not a safetensors dtype",
          "library error typed only by the catch-all",
          data=st(json.dumps({"w": {"dtype": "XX", "shape": [4], "data_offsets": [0, 16]}}).encode()))
    entry("safetensors_float8", "safetensors", ["inspect"], "tensor 'w': cannot read",
          "AttributeError from the library (numpy has no float8), typed only by the catch-all",
          data=st(json.dumps({"w": {"dtype": "F8_E4M3", "shape": [16], "data_offsets": [0, 16]}}).encode()))
    entry("safetensors_offsets_reversed", "safetensors", ["inspect"], "data_offsets [16, 0] lie outside",
          "library error typed only by the catch-all",
          data=st(json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [16, 0]}}).encode()))
    entry("safetensors_header_not_utf8", "safetensors", ["inspect"], "safetensors header is not UTF-8 text",
          "UnicodeDecodeError", data=st(b'{"w\xff": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}'))


def main() -> None:
    make_onnx()
    make_mindir()
    make_params()
    (HERE / "manifest.json").write_text(json.dumps(ENTRIES, indent=1) + "\n")
    print(f"wrote {len(ENTRIES)} reproducers to {HERE}")


if __name__ == "__main__":
    main()

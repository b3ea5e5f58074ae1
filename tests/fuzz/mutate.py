"""The mutation engine: seeded byte, protobuf, zip/npy, safetensors and external-data edits of seed files.

A mutant is a small set of files (the model and, for ONNX external data, its sidecar).
Every strategy takes a ``random.Random`` so a (format, seed number) pair always gives the
same mutant; the recipe string says what was done, for the reproducer's manifest entry.
"""

from __future__ import annotations

import io
import json
import random
import struct
import warnings
import zipfile
from dataclasses import dataclass, field

from tests.fuzz import proto_tree as pt

INTERESTING = [0, 1, -1, -2, 2**31 - 1, 2**31, 2**32 + 1, 2**40, 2**62, 2**63 - 1, 10**8, 255, 65536, 3]


@dataclass
class Mutant:
    """Files to write (name -> bytes), which one to open, and how they were made."""

    files: dict[str, bytes]
    main: str
    recipe: str
    fmt: str
    extra: dict = field(default_factory=dict)


@dataclass
class Seed:
    name: str
    files: dict[str, bytes]
    main: str
    fmt: str
    _tree: list | None = None
    _paths: list | None = None

    @property
    def data(self) -> bytes:
        return self.files[self.main]

    def tree(self):
        if self._tree is None:
            self._tree = pt.parse(self.data) or []
            self._paths = list(pt.paths(self._tree))
        return self._tree, self._paths


# ---------------------------------------------------------------- byte-level


def bit_flips(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    buf = bytearray(data)
    n = rng.choice([1, 1, 2, 4, 8, 32])
    for _ in range(n):
        i = rng.randrange(len(buf))
        buf[i] ^= 1 << rng.randrange(8)
    return bytes(buf), f"flip {n} bits"


def byte_set(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    buf = bytearray(data)
    i = rng.randrange(len(buf))
    width = rng.choice([1, 2, 4, 8])
    value = rng.choice([0x00, 0xFF, 0x7F, 0x80])
    buf[i:i + width] = bytes([value]) * width
    return bytes(buf[:len(data)] if len(buf) > len(data) else buf), f"set {width} bytes at {i} to {value:#x}"


def truncate(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    cut = rng.choice([rng.randrange(len(data)), len(data) - rng.randrange(1, 64), rng.randrange(64)])
    cut = max(1, min(cut, len(data) - 1))
    return data[:cut], f"truncate to {cut} bytes"


def chunk_edit(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    i = rng.randrange(len(data))
    n = rng.randrange(1, 256)
    kind = rng.choice(["delete", "duplicate", "insert"])
    if kind == "delete":
        return data[:i] + data[i + n:], f"delete {n} bytes at {i}"
    if kind == "duplicate":
        return data[:i] + data[i:i + n] + data[i:], f"duplicate {n} bytes at {i}"
    return data[:i] + rng.randbytes(n) + data[i:], f"insert {n} random bytes at {i}"


BYTE_STRATEGIES = (bit_flips, byte_set, truncate, chunk_edit)


# ---------------------------------------------------------------- protobuf-aware


def _varint_bytes(value: int) -> bytes:
    return pt.encode_varint(value)


def proto_mutation(seed: Seed, rng: random.Random) -> tuple[bytes, str]:
    top, paths = seed.tree()
    if not paths:
        return bit_flips(seed.data, rng)
    kind = rng.choice(["varint", "varint", "varint", "wire", "delete", "duplicate", "payload", "nest", "swap"])
    if kind == "varint":
        candidates = [p for p in _sample(paths, rng, 400) if p[-1].wire_type == pt.VARINT]
        if candidates:
            path = rng.choice(candidates)
            value = rng.choice(INTERESTING + [rng.getrandbits(rng.choice([8, 32, 64]))])
            node = pt.Node(path[-1].number, pt.VARINT, value, dirty=True)
            return pt.serialise(pt.replace(top, path, [node])), f"field {_where(path)}: varint {path[-1].value} -> {value}"
        kind = "delete"
    path = rng.choice(paths)
    old = path[-1]
    where = _where(path)
    if kind == "wire":
        new_type = rng.choice([t for t in (pt.VARINT, pt.FIXED64, pt.LEN, pt.FIXED32) if t != old.wire_type])
        if new_type == pt.LEN:
            value: int | bytes = _varint_bytes(old.value) if isinstance(old.value, int) else b""
        elif isinstance(old.value, bytes):
            value = len(old.value)
        else:
            value = old.value
        node = pt.Node(old.number, new_type, value, dirty=True)
        return pt.serialise(pt.replace(top, path, [node])), f"field {where}: wire type {old.wire_type} -> {new_type}"
    if kind == "delete":
        return pt.serialise(pt.replace(top, path, [])), f"field {where}: deleted"
    if kind == "duplicate":
        n = rng.choice([2, 3, 100])
        return pt.serialise(pt.replace(top, path, [old] * n)), f"field {where}: repeated {n} times"
    if kind == "swap":
        siblings = path[-2].children if len(path) > 1 else top
        other = rng.choice(siblings)
        return pt.serialise(pt.replace(top, path, [other])), f"field {where}: replaced by sibling field {other.number}"
    if kind == "nest":
        depth = rng.choice([50, 200, 1500])
        inner = pt.serialise([old])  # wrapped iteratively: the serialiser must not recurse 1,500 deep
        for _ in range(depth - 1):
            inner = pt.encode_varint(old.number << 3 | pt.LEN) + pt.encode_varint(len(inner)) + inner
        node = pt.Node(old.number, pt.LEN, inner, dirty=True)
        return pt.serialise(pt.replace(top, path, [node])), f"field {where}: nested {depth} deep"
    # payload edits on a LEN field
    if old.wire_type != pt.LEN:
        return pt.serialise(pt.replace(top, path, [])), f"field {where}: deleted"
    payload = bytes(old.value)
    choice = rng.choice(["cut", "grow", "random", "utf8"])
    if choice == "cut" and payload:
        payload = payload[: rng.randrange(len(payload))]
    elif choice == "grow":
        payload = payload + rng.randbytes(rng.choice([1, 3, 7, 1000]))
    elif choice == "utf8":
        payload = b"\xff\xfe" + payload[:8] + b"\xc3"
    else:
        payload = rng.randbytes(max(1, len(payload)) if len(payload) < 4096 else 64)
    node = pt.Node(old.number, pt.LEN, payload, dirty=True)
    return pt.serialise(pt.replace(top, path, [node])), f"field {where}: payload {choice} ({len(old.value)} -> {len(payload)} bytes)"


def _sample(items: list, rng: random.Random, k: int) -> list:
    return items if len(items) <= k else rng.sample(items, k)


def _where(path) -> str:
    return ".".join(str(n.number) for n in path)


# ---------------------------------------------------------------- npz / npy


def _npy_header(shape, descr: str = "<f4", fortran: bool = False, version: int = 1) -> bytes:
    text = f"{{'descr': {descr!r}, 'fortran_order': {fortran}, 'shape': {tuple(shape)!r}, }}"
    pad = 64 - (10 + len(text) + 1) % 64
    text = text + " " * pad + "\n"
    if version == 1:
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode("latin1")
    return b"\x93NUMPY\x02\x00" + struct.pack("<I", len(text)) + text.encode("latin1")


def npz_mutation(seed: Seed, rng: random.Random) -> tuple[bytes, str]:
    with zipfile.ZipFile(io.BytesIO(seed.data)) as zf:
        members = [(info.filename, zf.read(info)) for info in zf.infolist()]
    kind = rng.choice(["header", "header", "name", "zipfield", "dtypes", "stored"])
    i = rng.randrange(len(members))
    name, body = members[i]
    recipe = ""
    if kind == "header":
        data = body[body.index(b"\n") + 1:] if b"\n" in body[:4096] else body
        shape = rng.choice([(2**40,), (-1,), (2**31, 2**31), (3, -2), (0,), (2**62, 4), (len(data) // 4 + 1,), ()])
        descr = rng.choice(["<f4", "<f4", "|O", "<U10", "|V8", ">f8", "<c16", "x", "<M8[s]", "|S3"])
        fortran = rng.random() < 0.2
        version = rng.choice([1, 1, 2])
        members[i] = (name, _npy_header(shape, descr, fortran, version) + data)
        recipe = f"member {name!r}: npy header shape {shape} descr {descr!r} fortran {fortran} v{version}"
    elif kind == "name":
        new = rng.choice(["", ".npy", "../evil.npy", "a/b.npy", "x" * 300 + ".npy", "noext", members[0][0],
                          "\u00e9\u00e8.npy", "nul\x00.npy", " .npy"])
        members[i] = (new, body)
        recipe = f"member {name!r} renamed {new!r}"
    elif kind == "dtypes":
        text = rng.choice(['{"' + name[:-4] + '": "bfloat16"}', "[1, 2]", "{", '{"x": 5}', '"bfloat16"'])
        members.append(("__dstudio_dtypes__.npy", _npy_header((), "<U%d" % len(text)) + text.encode("utf-32-le")))
        recipe = f"dtypes member {text!r}"
    out = io.BytesIO()
    warnings.simplefilter("ignore", UserWarning)  # duplicate member names are one of the mutations
    compression = zipfile.ZIP_DEFLATED if kind == "stored" else zipfile.ZIP_STORED
    with zipfile.ZipFile(out, "w", compression) as zf:
        for mname, mbody in members:
            info = zipfile.ZipInfo(mname)
            info.compress_type = compression
            zf.writestr(info, mbody)
    data = out.getvalue()
    if kind == "stored":
        recipe = "members deflated"
    if kind == "zipfield":
        buf = bytearray(data)
        field_name, offset, width = rng.choice([
            ("local compressed size", 18, 4), ("local uncompressed size", 22, 4), ("local name length", 26, 2),
            ("local extra length", 28, 2), ("local crc", 14, 4), ("local method", 8, 2),
        ])
        value = rng.choice([0, 0xFFFFFFFF, 0x7FFFFFFF, 12345, 8])
        buf[offset:offset + width] = (value & ((1 << (8 * width)) - 1)).to_bytes(width, "little")
        data = bytes(buf)
        recipe = f"first member {field_name} set to {value}"
    return data, recipe or kind


# ---------------------------------------------------------------- safetensors


def safetensors_mutation(seed: Seed, rng: random.Random) -> tuple[bytes, str]:
    data = seed.data
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + size])
    body = data[8 + size:]
    names = [k for k in header if k != "__metadata__"]
    kind = rng.choice(["dtype", "shape", "shape", "offsets", "offsets", "metadata", "length", "nest", "biglist",
                       "utf8", "drop"])
    name = rng.choice(names)
    recipe = kind
    raw_header: bytes | None = None
    if kind == "dtype":
        header[name]["dtype"] = rng.choice(["F64", "BF16", "F8_E4M3", "I4", "XX", "", 5, "BOOL", "U64"])
        recipe = f"tensor {name!r} dtype -> {header[name]['dtype']!r}"
    elif kind == "shape":
        header[name]["shape"] = rng.choice([[2**40], [-1], [2**31, 2**31], [2**64], [1.5], ["a"], [], [0],
                                            [10**6] * 3, None, [[2]]])
        recipe = f"tensor {name!r} shape -> {header[name]['shape']!r}"
    elif kind == "offsets":
        begin, end = header[name]["data_offsets"]
        header[name]["data_offsets"] = rng.choice([[end, begin], [begin, 2**40], [-8, end], [begin, end + 1],
                                                   [0, len(body) + 4], [begin], [2**64, 2**64 + 4], [0.5, 4], "x"])
        recipe = f"tensor {name!r} data_offsets -> {header[name]['data_offsets']!r}"
    elif kind == "metadata":
        header["__metadata__"] = rng.choice([{"a": 1}, {"str:x": None}, [1], "x", {"str:" + name: "shadow"},
                                             {"k" * 10: "v" * 100000}])
        recipe = f"__metadata__ -> {str(header['__metadata__'])[:60]}"
    elif kind == "drop":
        key = rng.choice(["dtype", "shape", "data_offsets"])
        header[name].pop(key, None)
        recipe = f"tensor {name!r}: {key} removed"
    elif kind == "nest":
        depth = rng.choice([100, 1000, 5000])
        raw_header = ('{"x": ' + "[" * depth + "]" * depth + "}").encode()
        recipe = f"header nested {depth} deep"
    elif kind == "biglist":
        n = rng.choice([10**4, 10**5, 10**6])
        header[name]["shape"] = [1] * n
        recipe = f"tensor {name!r} shape of {n} ones"
    elif kind == "utf8":
        raw_header = json.dumps(header).encode()
        i = rng.randrange(len(raw_header))
        raw_header = raw_header[:i] + b"\xff\xc3" + raw_header[i:]
        recipe = f"non-UTF-8 bytes at header byte {i}"
    if raw_header is None:
        raw_header = json.dumps(header).encode()
    prefix = len(raw_header)
    if kind == "length":
        prefix = rng.choice([0, 1, prefix - 1, prefix + 1, len(data), 2**63, 2**64 - 1, 100 * 2**20])
        recipe = f"header length {size} -> {prefix}"
    return (prefix & (2**64 - 1)).to_bytes(8, "little") + raw_header + body, recipe


# ---------------------------------------------------------------- ONNX semantics (dims, external data)


def onnx_semantic(seed: Seed, rng: random.Random) -> tuple[dict[str, bytes], str]:
    import onnx

    model = onnx.ModelProto.FromString(seed.data)
    graph = model.graph
    files = dict(seed.files)
    kind = rng.choice(["input_dim", "value_info", "init_dims", "external", "external", "slice"])
    value = rng.choice([-2, -1, 0, 2**31, 2**40, 2**62, 10**8])
    recipe = kind
    if kind == "input_dim" and graph.input:
        vi = rng.choice(list(graph.input))
        dims = vi.type.tensor_type.shape.dim
        if dims:
            d = rng.choice(list(dims))
            d.Clear()
            d.dim_value = value
        recipe = f"input {vi.name!r} dim -> {value}"
    elif kind == "value_info":
        vi = graph.value_info.add()
        target = rng.choice([n.output[0] for n in graph.node if n.output] or ["x"])
        vi.name = target
        vi.type.tensor_type.elem_type = onnx.TensorProto.FLOAT
        for _ in range(rng.choice([1, 4])):
            vi.type.tensor_type.shape.dim.add().dim_value = value
        recipe = f"value_info {target!r} dims {value}"
    elif kind == "init_dims" and graph.initializer:
        t = rng.choice(list(graph.initializer))
        if t.dims:
            t.dims[rng.randrange(len(t.dims))] = value
        else:
            t.dims.append(value)
        recipe = f"initializer {t.name!r} dims -> {list(t.dims)}"
    elif kind == "slice":
        node = graph.node.add(op_type="Slice", name="fuzz_slice")
        node.input.extend([graph.input[0].name, "fz_starts", "fz_ends"])
        node.output.append("fz_out")
        for nm, val in (("fz_starts", [value]), ("fz_ends", [-value])):
            graph.initializer.append(onnx.helper.make_tensor(nm, onnx.TensorProto.INT64, [1], val))
        recipe = f"Slice with starts {value}"
    elif kind == "external":
        big = [t for t in graph.initializer if t.HasField("raw_data") and len(t.raw_data) > 64]
        if big:
            sidecar = bytearray()
            for t in big:
                off = len(sidecar)
                sidecar += t.raw_data
                length = len(t.raw_data)
                t.ClearField("raw_data")
                t.data_location = onnx.TensorProto.EXTERNAL
                del t.external_data[:]
                for k, v in (("location", "weights.bin"), ("offset", str(off)), ("length", str(length))):
                    t.external_data.add(key=k, value=v)
            victim = rng.choice(big)
            entry = {e.key: e for e in victim.external_data}
            what = rng.choice(["location", "offset", "length", "sidecar", "none"])
            if what == "location":
                entry["location"].value = rng.choice(["../weights.bin", "/etc/hostname", "model.onnx", "missing.bin",
                                                      "sub/../weights.bin", "", "weights.bin\x00x", "."])
            elif what in ("offset", "length"):
                entry[what].value = rng.choice(["-1", "-4096", str(2**40), str(2**63), "x", "1e3", str(len(sidecar))])
            elif what == "sidecar":
                sidecar = sidecar[: rng.randrange(len(sidecar))]
            files["weights.bin"] = bytes(sidecar)
            recipe = f"external data, tensor {victim.name!r}: {what} -> " + (
                entry[what].value if what in entry else str(len(sidecar)))
    files[seed.main] = model.SerializeToString()
    return files, recipe


# ---------------------------------------------------------------- MindIR semantics


def mindir_semantic(seed: Seed, rng: random.Random) -> tuple[bytes, str]:
    from engine.formats._proto import dstudio_mind_ir_pb2 as pb

    proto = pb.ModelProto.FromString(seed.data)
    kind = rng.choice(["nest_tuple", "prim_int", "out_shape", "param_dims", "input_dims"])
    value = rng.choice([10**8, 2**31, 2**40, -2, -1, 0, 2**62])
    graph = proto.graph
    if kind == "nest_tuple" and graph.output:
        depth = rng.choice([100, 1500, 5000])
        prim = proto.primitives.add(name="fz_mt", op_type="MakeTuple")
        del prim  # MakeTuple nodes refer to it as REF::fz_mt
        src = graph.output[0].name
        previous = src
        for i in range(depth):
            node = graph.node.add(op_type="REF::fz_mt", name=f"fz_tuple_{i}")
            node.input.append(previous)
            node.output.append(f"fz_tuple_{i}")
            previous = f"fz_tuple_{i}"
        graph.output[0].name = previous
        return proto.SerializeToString(), f"{depth} nested MakeTuple on the output"
    if kind == "prim_int":
        ints = [(p, a) for p in proto.primitives for a in p.attribute if a.HasField("i") or len(a.ints)]
        if ints:
            prim, attr = rng.choice(ints)
            if attr.HasField("i"):
                attr.i = value
            else:
                attr.ints[rng.randrange(len(attr.ints))] = value
            return proto.SerializeToString(), f"primitive {prim.name!r} attribute {attr.name!r} -> {value}"
    if kind == "out_shape":
        shaped = [(n, a) for n in graph.node for a in n.attribute if a.name == "shape" and a.tensors]
        if shaped:
            node, attr = rng.choice(shaped)
            t = attr.tensors[0]
            if t.dims:
                t.dims[rng.randrange(len(t.dims))] = value
            return proto.SerializeToString(), f"node {node.name!r} output shape -> {list(t.dims)}"
    if kind == "param_dims" and graph.parameter:
        t = rng.choice(list(graph.parameter))
        if t.dims:
            t.dims[rng.randrange(len(t.dims))] = value
        return proto.SerializeToString(), f"parameter {t.name!r} dims -> {list(t.dims)}"
    if graph.input and graph.input[0].tensor:
        t = graph.input[0].tensor[0]
        if t.dims:
            t.dims[rng.randrange(len(t.dims))] = value
        return proto.SerializeToString(), f"input dims -> {list(t.dims)}"
    return bit_flips(seed.data, rng)


# ---------------------------------------------------------------- dispatch


def mutate(seed: Seed, rng: random.Random) -> Mutant:
    """One mutant of ``seed``: a byte-level edit, a format-aware edit, or both."""
    fmt = seed.fmt
    files = dict(seed.files)
    roll = rng.random()
    if roll < 0.3:
        strategy = rng.choice(BYTE_STRATEGIES)
        data, recipe = strategy(seed.data, rng)
        files[seed.main] = data
    elif fmt in ("onnx", "mindir", "ckpt") and roll < 0.75:
        data, recipe = proto_mutation(seed, rng)
        files[seed.main] = data
    elif fmt == "onnx":
        files, recipe = onnx_semantic(seed, rng)
    elif fmt == "mindir":
        files[seed.main], recipe = mindir_semantic(seed, rng)
    elif fmt == "npz":
        files[seed.main], recipe = npz_mutation(seed, rng)
    elif fmt == "safetensors":
        files[seed.main], recipe = safetensors_mutation(seed, rng)
    else:  # ckpt: the proto-aware edits above, or strings and names
        data, recipe = proto_mutation(seed, rng)
        files[seed.main] = data
    return Mutant(files=files, main=seed.main, recipe=f"{seed.name}: {recipe}", fmt=fmt)

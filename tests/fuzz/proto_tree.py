"""A schema-free protobuf tree: parse wire bytes into nested fields, edit one, serialise with fixed lengths."""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.formats import protowire

VARINT, FIXED64, LEN, FIXED32 = 0, 1, 2, 5
MAX_DEPTH = 12


@dataclass
class Node:
    """One field. ``children`` is set when a LEN payload parsed as a message; ``raw`` keeps
    the original bytes of the whole field so untouched subtrees serialise unchanged."""

    number: int
    wire_type: int
    value: int | bytes
    children: list[Node] | None = None
    raw: bytes | None = None
    dirty: bool = False

    def walk(self):
        yield self
        for child in self.children or ():
            yield from child.walk()


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("long varint")


def encode_varint(value: int) -> bytes:
    # Negative numbers as protobuf writes them: ten bytes, two's complement.
    return protowire.encode_varint(value & ((1 << 64) - 1))


def parse(buf: bytes, depth: int = 0) -> list[Node] | None:
    """Fields of ``buf``, or None when the bytes are not exactly one message."""
    nodes: list[Node] = []
    pos = 0
    try:
        while pos < len(buf):
            start = pos
            key, pos = _varint(buf, pos)
            number, wire_type = key >> 3, key & 7
            if number == 0:
                return None
            if wire_type == VARINT:
                value, pos = _varint(buf, pos)
                node = Node(number, wire_type, value)
            elif wire_type == LEN:
                length, pos = _varint(buf, pos)
                if pos + length > len(buf):
                    return None
                payload = buf[pos:pos + length]
                pos += length
                node = Node(number, wire_type, payload)
                # Heuristic: a payload that parses whole is a sub-message (tensor bytes rarely do).
                if depth < MAX_DEPTH and payload and len(payload) < (1 << 22):
                    node.children = parse(payload, depth + 1)
            elif wire_type in (FIXED64, FIXED32):
                width = 8 if wire_type == FIXED64 else 4
                if pos + width > len(buf):
                    return None
                node = Node(number, wire_type, int.from_bytes(buf[pos:pos + width], "little"))
                pos += width
            else:
                return None
            node.raw = buf[start:pos]
            nodes.append(node)
    except (IndexError, ValueError):
        return None
    return nodes


def serialise(nodes: list[Node]) -> bytes:
    return b"".join(_field(n) for n in nodes)


def _field(node: Node) -> bytes:
    if node.raw is not None and not node.dirty:
        return node.raw
    key = encode_varint(node.number << 3 | node.wire_type)
    if node.wire_type == VARINT:
        return key + encode_varint(int(node.value))
    if node.wire_type == FIXED64:
        return key + (int(node.value) & (2**64 - 1)).to_bytes(8, "little")
    if node.wire_type == FIXED32:
        return key + (int(node.value) & (2**32 - 1)).to_bytes(4, "little")
    payload = serialise(node.children) if node.children is not None else bytes(node.value)
    return key + encode_varint(len(payload)) + payload


def paths(nodes: list[Node], prefix: tuple[Node, ...] = ()):
    """Every (ancestors + node) path in the tree."""
    for node in nodes:
        here = prefix + (node,)
        yield here
        if node.children:
            yield from paths(node.children, here)


def replace(top: list[Node], path: tuple[Node, ...], new: list[Node]) -> list[Node]:
    """A new top-level list where ``path[-1]`` is replaced by ``new`` (none, one or more nodes).

    Only the ancestors are copied (shallowly, marked dirty so their lengths are recomputed);
    the original tree is left as it was, so one parsed seed serves every mutant.
    """
    if len(path) == 1:
        i = next(i for i, n in enumerate(top) if n is path[0])
        return top[:i] + new + top[i + 1:]
    parent = path[-2]
    i = next(i for i, n in enumerate(parent.children) if n is path[-1])
    copy = Node(parent.number, parent.wire_type, parent.value, parent.children[:i] + new + parent.children[i + 1:],
                parent.raw, True)
    return replace(top, path[:-1], [copy])

"""Reading the first fields of a protobuf message without its schema, for format sniffing.

Protobuf files carry no magic number, so ONNX, MindIR and MindSpore checkpoints are told
apart by the numbers and wire types of their leading top-level fields.
"""

from __future__ import annotations

from dataclasses import dataclass

VARINT, FIXED64, LEN, FIXED32 = 0, 1, 2, 5


@dataclass(frozen=True)
class WireField:
    """A top-level field: its number, wire type, and for LEN fields the payload (maybe cut)."""

    number: int
    wire_type: int
    value: int | bytes


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise IndexError("varint runs past the end")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")


def scan_fields(buf: bytes, limit: int = 32) -> list[WireField] | None:
    """Parse up to ``limit`` top-level fields of ``buf``.

    Returns None when the bytes cannot be a protobuf message (bad wire type, field number
    0, varint overflow). A LEN field cut short by the end of ``buf`` ends the scan with its
    partial payload, since callers usually pass only the head of a file.
    """
    fields: list[WireField] = []
    pos = 0
    try:
        while pos < len(buf) and len(fields) < limit:
            key, pos = _varint(buf, pos)
            number, wire_type = key >> 3, key & 7
            if number == 0 or wire_type not in (VARINT, FIXED64, LEN, FIXED32):
                return None
            if wire_type == VARINT:
                value, pos = _varint(buf, pos)
                fields.append(WireField(number, wire_type, value))
            elif wire_type == LEN:
                length, pos = _varint(buf, pos)
                fields.append(WireField(number, wire_type, buf[pos : pos + length]))
                if pos + length > len(buf):
                    break
                pos += length
            else:
                width = 8 if wire_type == FIXED64 else 4
                if pos + width > len(buf):
                    break
                fields.append(WireField(number, wire_type, int.from_bytes(buf[pos : pos + width], "little")))
                pos += width
    except (IndexError, ValueError):
        return fields or None
    return fields


def is_printable(data: bytes) -> bool:
    """True for short UTF-8 text without control characters."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(ch.isprintable() for ch in text)


@dataclass(frozen=True)
class Span:
    """Where one complete top-level field lies in a buffer: [start, end) for the whole field,
    [payload, end) for a LEN field's payload."""

    number: int
    wire_type: int
    start: int
    payload: int
    end: int


def spans(buf: bytes | memoryview) -> list[Span]:
    """Every top-level field of a complete message, without copying payloads.

    Raises:
        ValueError: the bytes end inside a field or hold an invalid wire type.
    """
    out: list[Span] = []
    pos, size = 0, len(buf)
    data = buf  # bytes and memoryview both index to ints
    try:
        while pos < size:
            start = pos
            key, pos = _varint(data, pos)
            number, wire_type = key >> 3, key & 7
            if number == 0:
                raise ValueError(f"field number 0 at byte {start}")
            if wire_type == VARINT:
                payload = pos
                _, pos = _varint(data, pos)
            elif wire_type == LEN:
                length, payload = _varint(data, pos)
                pos = payload + length
            elif wire_type in (FIXED64, FIXED32):
                payload = pos
                pos += 8 if wire_type == FIXED64 else 4
            else:
                raise ValueError(f"wire type {wire_type} at byte {start}")
            if pos > size:
                raise ValueError(f"field {number} at byte {start} runs past the end (truncated)")
            out.append(Span(number, wire_type, start, payload, pos))
    except IndexError:
        raise ValueError(f"message ends inside a field at byte {pos} (truncated)") from None
    return out


def encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)

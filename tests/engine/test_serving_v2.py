"""Open Inference Protocol (V2) tensors: JSON and binary round trips, and the errors bad requests get."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

from engine.serving import v2


def _feeds() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    return {"x": rng.standard_normal((2, 3, 4)).astype(np.float32), "ids": np.array([[1, -7, 2**40]], np.int64),
            "mask": np.array([True, False, True]), "h": rng.standard_normal(5).astype(np.float16)}


@pytest.mark.parametrize("binary", [False, True])
def test_request_round_trip_is_exact(binary):
    feeds = _feeds()
    body, headers = v2.encode_request(feeds, binary=binary, request_id="r1")
    got, header = v2.decode_request(body, headers.get(v2.HEADER_LENGTH))
    assert header["id"] == "r1"
    assert list(got) == list(feeds)
    for k, arr in feeds.items():
        assert got[k].dtype == arr.dtype and got[k].shape == arr.shape
        np.testing.assert_array_equal(got[k], arr)
    assert (v2.HEADER_LENGTH in headers) == binary


@pytest.mark.parametrize("binary", [False, True])
def test_response_round_trip_is_exact(binary):
    outs = {"y": np.random.default_rng(0).standard_normal((1, 1000)).astype(np.float32), "k": np.arange(3)}
    body, headers = v2.encode_response("m", "1", outs, binary_default=binary)
    got = v2.decode_response(body, headers.get(v2.HEADER_LENGTH))
    for k, arr in outs.items():
        assert got[k].dtype == arr.dtype
        np.testing.assert_array_equal(got[k], arr)


def test_empty_tensors_decode_in_every_dtype():
    for name, dtype in v2.DATATYPES.items():
        body = json.dumps({"inputs": [{"name": "e", "shape": [0, 3], "datatype": name, "data": []}]}).encode()
        feeds, _ = v2.decode_request(body)
        assert feeds["e"].shape == (0, 3) and feeds["e"].dtype == dtype


def test_outputs_binary_per_output():
    header = {"outputs": [{"name": "a", "parameters": {"binary_data": True}}, {"name": "b"}]}
    default, flags, asked = v2.wants_binary(header)
    assert (default, flags, asked) == (False, {"a": True, "b": False}, ["a", "b"])
    body, headers = v2.encode_response("m", "1", {"a": np.ones(2, np.float32), "b": np.zeros(2, np.float32)},
                                       binary=flags)
    head = json.loads(body[: int(headers[v2.HEADER_LENGTH])])
    assert "data" not in head["outputs"][0] and head["outputs"][1]["data"] == [0.0, 0.0]


def _json(obj) -> bytes:
    return json.dumps(obj).encode()


@pytest.mark.parametrize(
    ("body", "header_len", "needle"),
    [
        (b"{not json", None, "malformed JSON"),
        (b"[1, 2]", None, "must be a JSON object"),
        (_json({"inputs": []}), None, "no 'inputs'"),
        (_json({"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "data": [1.0]}]}), None, "has 1 values"),
        (_json({"inputs": [{"name": "x", "shape": [1], "datatype": "COMPLEX", "data": [1]}]}), None, "unsupported datatype"),
        (_json({"inputs": [{"name": "x", "shape": [-1], "datatype": "FP32", "data": [1]}]}), None, "non-negative"),
        (_json({"inputs": [{"name": "x", "shape": [1], "datatype": "INT32", "data": [1.5]}]}), None, "non-integer"),
        (_json({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": ["a"]}]}), None, "not a list of FP32"),
        (_json({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32"}]}), None, "neither 'data'"),
        (_json({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]},
                           {"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]}), None, "given twice"),
        (_json({"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "parameters": {"binary_data_size": 4}}]}),
         "999", "Inference-Header-Content-Length is 999"),
        (_json({"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "parameters": {"binary_data_size": 4}}]}),
         None, "needs 8"),
    ],
)
def test_bad_requests_are_400_with_one_line(body, header_len, needle):
    with pytest.raises(v2.V2Error) as info:
        v2.decode_request(body, header_len)
    assert info.value.status == 400
    assert needle in info.value.message and "\n" not in info.value.message
    assert json.loads(info.value.body()) == {"error": info.value.message}


def test_binary_data_short_or_left_over():
    head = _json({"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "parameters": {"binary_data_size": 8}}]})
    with pytest.raises(v2.V2Error, match="runs past the end"):
        v2.decode_request(head + b"\0" * 4, str(len(head)))
    with pytest.raises(v2.V2Error, match="no input claims"):
        v2.decode_request(head + b"\0" * 12, str(len(head)))


class _StreamingRequest:
    """Just enough of a Starlette request for ``_read_body``: headers and an async body stream."""

    def __init__(self, chunks: list[bytes], headers: dict[str, str]) -> None:
        self.headers = headers
        self._chunks = chunks

    async def stream(self):
        for c in self._chunks:
            yield c


def test_body_limit_declared_and_streamed():
    from engine.serving.server import _read_body

    ok = asyncio.run(_read_body(_StreamingRequest([b"ab", b"cd"], {}), 4))
    assert ok == b"abcd"
    with pytest.raises(v2.V2Error) as declared:
        asyncio.run(_read_body(_StreamingRequest([], {"content-length": "5"}), 4))
    assert declared.value.status == 413
    with pytest.raises(v2.V2Error) as streamed:  # chunked: no length declared, the limit still holds
        asyncio.run(_read_body(_StreamingRequest([b"abc", b"de"], {}), 4))
    assert streamed.value.status == 413

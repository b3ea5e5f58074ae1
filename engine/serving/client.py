"""A small blocking V2 client on the standard library's ``http.client`` (one keep-alive connection)."""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from engine.errors import TargetError
from engine.serving import v2


def split_url(url: str) -> tuple[str, int, str]:
    """(host, port, path prefix) of an ``http://host:port[/prefix]`` URL; TargetError otherwise."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme != "http" or not parts.hostname:
        raise TargetError(f"not an http:// server URL: {url!r}", hint="give http://HOST:PORT")
    try:
        port = parts.port or 80
    except ValueError:
        raise TargetError(f"bad port in server URL {url!r}") from None
    return parts.hostname, port, parts.path.rstrip("/")


class _NoDelayConnection(http.client.HTTPConnection):
    """An HTTP connection with Nagle's algorithm off.

    ``http.client`` sends the headers and a body over 2,920 bytes in two writes; with Nagle
    on, the tail of the body then waits for the server's delayed ACK, about 40 ms a request.
    """

    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class V2Client:
    """Requests to one V2 server; reuses its connection and reopens it after an error.

    Args:
        url: ``http://host:port`` of the server.
        timeout_s: socket timeout of each request.
    """

    def __init__(self, url: str, *, timeout_s: float = 60.0) -> None:
        self.host, self.port, self.prefix = split_url(url)
        self.timeout_s = timeout_s
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            self._conn = _NoDelayConnection(self.host, self.port, timeout=self.timeout_s)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> V2Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: Mapping[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        """One request; returns (status, lower-cased headers, body). Connection errors raise OSError."""
        conn = self._connection()
        try:
            conn.request(method, self.prefix + path, body=body, headers=dict(headers or {}))
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException):
            self.close()
            raise
        if resp.will_close:
            self.close()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data

    def get_json(self, path: str) -> tuple[int, Any]:
        status, _, data = self.request("GET", path)
        try:
            return status, json.loads(data) if data else None
        except json.JSONDecodeError:
            return status, data.decode(errors="replace")

    def ready(self) -> bool:
        try:
            return self.request("GET", "/v2/health/ready")[0] == 200
        except (OSError, http.client.HTTPException):
            return False

    def wait_ready(self, deadline_s: float, *, poll_s: float = 0.05) -> bool:
        """Poll ``/v2/health/ready`` until it answers 200 or ``deadline_s`` seconds pass."""
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            if self.ready():
                return True
            time.sleep(poll_s)
        return False

    def metadata(self, model: str) -> dict[str, Any]:
        status, obj = self.get_json(f"/v2/models/{model}")
        if status != 200:
            message = obj.get("error") if isinstance(obj, dict) else obj
            raise TargetError(f"server at {self.host}:{self.port}: model {model!r}: {message} (HTTP {status})")
        return obj

    def infer(self, model: str, feeds: Mapping[str, np.ndarray], *, binary: bool = True) -> dict[str, np.ndarray]:
        """Run ``model`` on ``feeds``; TargetError with the server's message on a non-200 answer."""
        body, headers = v2.encode_request(feeds, binary=binary)
        status, rh, data = self.request("POST", f"/v2/models/{model}/infer", body, headers)
        if status != 200:
            try:
                message = json.loads(data).get("error", data[:200])
            except (json.JSONDecodeError, AttributeError, UnicodeDecodeError):
                message = data[:200]
            raise TargetError(f"server at {self.host}:{self.port}: {message} (HTTP {status})")
        return v2.decode_response(data, rh.get(v2.HEADER_LENGTH.lower()))


def feeds_for(metadata: Mapping[str, Any], *, seed: int = 0, batch: int | None = None) -> dict[str, np.ndarray]:
    """Seeded inputs that fit a V2 model metadata answer (dims of -1 take ``batch`` first, else 1)."""
    from engine.inputs import TensorSpec, make_feeds

    specs = []
    for t in metadata.get("inputs", []):
        dims = tuple(d if d >= 0 else None for d in t["shape"])
        specs.append(TensorSpec(t["name"], v2.dtype_of(t["datatype"]), dims))
    return make_feeds(specs, seed=seed, batch=batch)

"""A local Open Inference Protocol (V2) endpoint over HTTP on Starlette and uvicorn.

Why Starlette + uvicorn and not KServe's ``ModelServer``: KServe's server is itself FastAPI
(Starlette) on uvicorn, but its package brings 67 distributions into a fresh environment (pandas, the
Kubernetes client, cryptography, aiohttp, ...) and pins ``protobuf<7``, which cannot live
beside this project's ``protobuf>=7.35``. Starlette (routing, requests, responses) and
uvicorn (the HTTP/1.1 server, signal handling, graceful shutdown) are the same well-kept
ASGI stack, two small wheels; the V2 routes over them are written here (``v2.py`` encodes
and decodes the tensors).

Routes: ``GET /v2``, ``/v2/health/live``, ``/v2/health/ready``, ``/v2/models/{name}``,
``/v2/models/{name}/ready``, ``/v2/models/{name}/stats`` (Triton's statistics extension),
``POST /v2/models/{name}/infer`` (also under ``/versions/{v}``). Inference runs on
``workers`` sessions (model instances, like Triton's instance count), each serving one
request at a time on a thread of its own, so the event loop keeps reading requests while
a model runs. Every failure is a V2 error response ``{"error": "..."}``; nothing a client
sends stops the server.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import signal
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.errors import EngineError, InputError, TargetError
from engine.serving import v2

if TYPE_CHECKING:
    from engine.backends import Session, TargetOptions
    from engine.model import Model

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY = 64 * 1024 * 1024


@dataclass
class ModelStats:
    """Counts and cumulative times of one model's requests (Triton's statistics extension, trimmed)."""

    success: int = 0
    fail: int = 0
    in_flight: int = 0
    success_ns: int = 0
    compute_ns: int = 0
    last_ns: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def to_dict(self) -> dict[str, Any]:
        with self._lock:
            return {"inference_count": self.success, "execution_count": self.success, "fail_count": self.fail,
                    "in_flight": self.in_flight, "last_inference": self.last_ns // 1_000_000,
                    "inference_stats": {"success": {"count": self.success, "ns": self.success_ns},
                                        "fail": {"count": self.fail, "ns": 0},
                                        "compute_infer": {"count": self.success, "ns": self.compute_ns}}}


class ServedModel:
    """One model behind the endpoint: its sessions, metadata and statistics."""

    def __init__(self, model: Model, name: str, target: str, sessions: list[Session]) -> None:
        self.name = name
        self.version = "1"
        self.target = target
        self.model = model
        self.sessions = sessions
        self.input_specs = sessions[0].input_specs
        self.output_names = sessions[0].output_names
        _, outs = model.io_specs()
        self.output_specs = {s.name: s for s in outs}
        self.stats = ModelStats()
        self._free: queue.SimpleQueue[Session] = queue.SimpleQueue()
        for s in sessions:
            self._free.put(s)
        self.executor = ThreadPoolExecutor(max_workers=len(sessions), thread_name_prefix="dstudio-infer")

    def metadata(self) -> dict[str, Any]:
        def tensor(spec) -> dict[str, Any]:
            dims = [d if isinstance(d, int) else -1 for d in spec.shape]
            return {"name": spec.name, "datatype": v2.datatype_of(spec.dtype), "shape": dims}

        return {"name": self.name, "versions": [self.version], "platform": self.target,
                "inputs": [tensor(s) for s in self.input_specs],
                "outputs": [tensor(self.output_specs[n]) for n in self.output_names if n in self.output_specs]}

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run on a free session (blocking; called on an executor thread)."""
        session = self._free.get()
        try:
            return session.infer(feeds)
        finally:
            self._free.put(session)

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)
        for s in self.sessions:
            try:
                s.deactivate()
            except Exception:  # closing must not hide the others
                log.exception("closing a session of %s", self.name)


def open_model(model: Model, name: str, target: str, *, workers: int = 1, options: TargetOptions | None = None) -> ServedModel:
    """Open ``workers`` sessions of ``model`` on ``target`` (each checked with one run of seeded inputs)."""
    from engine.backends import canonical_name
    from engine.precision import open_session
    from engine.inputs import make_feeds

    if workers < 1:
        raise TargetError(f"workers must be at least 1, not {workers}")
    sessions: list[Session] = []
    try:
        for _ in range(workers):
            sessions.append(open_session(model, target, options))
        for d in sessions[0].input_specs:
            v2.datatype_of(d.dtype)
        warm = make_feeds(sessions[0].input_specs, seed=0)
        for s in sessions:
            s.infer(warm)
    except ValueError as exc:
        for s in sessions:
            s.deactivate()
        raise TargetError(f"cannot serve this model: {exc}", path=model.source_path) from None
    except BaseException:
        for s in sessions:
            s.deactivate()
        raise
    return ServedModel(model, name, canonical_name(target), sessions)


def _error(status: int, message: str):
    from starlette.responses import Response

    return Response(json.dumps({"error": message}), status_code=status, media_type=v2.JSON_TYPE)


async def _read_body(request, limit: int) -> bytes:
    """The request body, refusing (413) one over ``limit`` bytes, declared or streamed."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            n = int(declared)
        except ValueError:
            raise v2.V2Error(400, f"Content-Length is not a number: {declared!r}") from None
        if n > limit:
            raise v2.V2Error(413, f"request body of {n} bytes is over this server's limit of {limit} bytes")
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise v2.V2Error(413, f"request body is over this server's limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def build_app(models: dict[str, ServedModel], *, max_body: int = DEFAULT_MAX_BODY, server_name: str = "deploy-studio"):
    """The Starlette application serving ``models`` by name."""
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from engine import __version__

    def served(request) -> ServedModel:
        name = request.path_params["name"]
        model = models.get(name)
        if model is None:
            raise v2.V2Error(404, f"unknown model {name!r}; this server has {', '.join(sorted(models))}")
        version = request.path_params.get("version")
        if version is not None and version != model.version:
            raise v2.V2Error(404, f"model {name!r} has no version {version!r}; it has {model.version}")
        return model

    async def server_meta(request):
        return JSONResponse({"name": server_name, "version": __version__,
                             "extensions": ["binary_tensor_data", "statistics"]})

    async def live(request):
        return JSONResponse({"live": True})

    async def ready(request):
        return JSONResponse({"ready": True})

    async def model_meta(request):
        return JSONResponse(served(request).metadata())

    async def model_ready(request):
        served(request)
        return JSONResponse({"ready": True})

    async def model_stats(request):
        names = [request.path_params["name"]] if "name" in request.path_params else sorted(models)
        if "name" in request.path_params:
            served(request)
        return JSONResponse({"model_stats": [{"name": n, "version": models[n].version, **models[n].stats.to_dict()}
                                             for n in names]})

    async def infer(request):
        start = time.perf_counter_ns()
        model = served(request)
        stats = model.stats
        with stats._lock:
            stats.in_flight += 1
        try:
            body = await _read_body(request, max_body)
            feeds, header = v2.decode_request(body, request.headers.get(v2.HEADER_LENGTH.lower()))
            default, flags, asked = v2.wants_binary(header)
            if asked is not None:
                unknown = [n for n in asked if n not in model.output_names]
                if unknown:
                    raise v2.V2Error(400, f"unknown output {unknown[0]!r}; the model's outputs are: "
                                          f"{', '.join(model.output_names)}")
            try:
                from engine.inputs import check_feeds

                check_feeds(feeds, model.input_specs)
            except InputError as exc:
                raise v2.V2Error(400, exc.message) from None
            t0 = time.perf_counter_ns()
            loop = asyncio.get_running_loop()
            try:
                outputs = await loop.run_in_executor(model.executor, model.run, feeds)
            except InputError as exc:
                raise v2.V2Error(400, exc.message) from None
            except EngineError as exc:
                raise v2.V2Error(500, f"inference failed: {exc}") from None
            except Exception as exc:  # a runtime's own error on odd values: the request fails, the server lives
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise v2.V2Error(500, f"inference failed: {first[:300]}") from None
            compute = time.perf_counter_ns() - t0
            if asked is not None:
                outputs = {n: outputs[n] for n in asked}
            request_id = header.get("id") if isinstance(header.get("id"), str) else ""
            data, headers = v2.encode_response(model.name, model.version, outputs, request_id=request_id,
                                               binary_default=default, binary=flags)
        except v2.V2Error as exc:
            with stats._lock:
                stats.fail += 1
                stats.in_flight -= 1
            return _error(exc.status, exc.message)
        except BaseException:
            with stats._lock:
                stats.in_flight -= 1
            raise
        with stats._lock:
            stats.success += 1
            stats.in_flight -= 1
            stats.success_ns += time.perf_counter_ns() - start
            stats.compute_ns += compute
            stats.last_ns = time.time_ns()
        media = headers.pop("Content-Type")
        return Response(data, media_type=media, headers=headers)

    async def v2_error(request, exc: v2.V2Error):
        return _error(exc.status, exc.message)

    async def http_error(request, exc: HTTPException):
        return _error(exc.status_code, f"{exc.detail} ({request.method} {request.url.path})")

    async def internal_error(request, exc: Exception):
        log.exception("request %s %s failed", request.method, request.url.path)
        return _error(500, f"internal error: {type(exc).__name__}: {str(exc)[:200]}")

    routes = [
        Route("/v2", server_meta), Route("/v2/health/live", live), Route("/v2/health/ready", ready),
        Route("/v2/models/stats", model_stats),
        Route("/v2/models/{name}", model_meta), Route("/v2/models/{name}/versions/{version}", model_meta),
        Route("/v2/models/{name}/ready", model_ready), Route("/v2/models/{name}/versions/{version}/ready", model_ready),
        Route("/v2/models/{name}/stats", model_stats),
        Route("/v2/models/{name}/infer", infer, methods=["POST"]),
        Route("/v2/models/{name}/versions/{version}/infer", infer, methods=["POST"]),
    ]
    handlers = {v2.V2Error: v2_error, HTTPException: http_error, Exception: internal_error}
    return Starlette(routes=routes, exception_handlers=handlers)


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on (host, port); port 0 picks a free one (read it back from the socket)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto given explicitly: asyncio turns Nagle off (TCP_NODELAY) only on sockets whose proto says TCP, and
    # with Nagle on, a response written as headers then body waits ~40 ms for the client's delayed ACK
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise TargetError(f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                          hint="choose another --port (0 picks a free one)") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve(models: dict[str, ServedModel], sock: socket.socket, *, max_body: int = DEFAULT_MAX_BODY,
          on_started: Callable[[str], None] | None = None, log_level: str = "warning") -> None:
    """Serve until SIGINT/SIGTERM (uvicorn's graceful shutdown), then close every session."""
    import uvicorn

    class _Server(uvicorn.Server):
        # uvicorn re-raises the signal that stopped it after its graceful shutdown (so the
        # process dies of it); a stop asked for by SIGINT/SIGTERM is this command's normal end.
        def handle_exit(self, sig: int, frame: object) -> None:
            if self.should_exit and sig == signal.SIGINT:
                self.force_exit = True
            self.should_exit = True

    app = build_app(models, max_body=max_body)
    config = uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="off",
                            timeout_graceful_shutdown=10)
    server = _Server(config)
    host, port = sock.getsockname()[:2]
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"

    async def main() -> None:
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not task.done():
            await asyncio.sleep(0.01)
        if server.started and on_started is not None:
            on_started(url)
        await task

    try:
        asyncio.run(main())
    finally:
        for m in models.values():
            m.close()

"""MindSpore Lite target (``mindspore-lite:cpu``): a ``.ms`` run by Lite's runtime in a Python 3.7 worker.

A ``.ms`` file opened as it is runs directly; any other model reaches Lite as ONNX through
Lite's converter (:func:`engine.backends.mslite_env.convert_onnx`, cached by content). The
worker speaks length-prefixed pickles over its stdin/stdout (see ``mslite_worker.py``).
"""

from __future__ import annotations

import logging
import pickle
import queue
import shutil
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine.backends import mslite_env
from engine.backends.base import Backend, Session, TargetInfo, TargetOptions
from engine.backends.worker_stream import stream_latencies
from engine.errors import Cancelled, EngineError, TargetError

if TYPE_CHECKING:
    from engine.jobs import Job
    from engine.model import Model

log = logging.getLogger(__name__)

START_TIMEOUT_S = 300.0
POLL_S = 0.05

OPTIONS_HELP = {
    "threads": "Lite CPU threads (Context.cpu.thread_num)",
    "graph_optimization": "ignored (Lite's converter optimizes the graph when it writes the .ms)",
    "env": "environment of the Lite worker process",
    "profile": "not supported (use onnxruntime:cpu for per-node timings)",
}


class MindSporeLiteBackend(Backend):
    """MindSpore Lite 2.0 on CPU, through its own Python 3.7 venv."""

    name = "mindspore-lite"
    devices = ("cpu",)

    def targets(self) -> list[TargetInfo]:
        reason = mslite_env.unavailable_reason()
        version = mslite_env.LITE_VERSION if not reason else ""
        return [TargetInfo("mindspore-lite:cpu", self.name, "cpu", not reason, reason, OPTIONS_HELP, version)]

    def open(self, model: Model, device: str, options: TargetOptions, job: Job | None) -> Session:
        return MindSporeLiteSession(model, "mindspore-lite:cpu", options, job=job)


def _pack(arr: np.ndarray) -> tuple:
    arr = np.ascontiguousarray(arr)
    return (arr.dtype.str, tuple(arr.shape), arr.tobytes())


def _unpack(item: tuple) -> np.ndarray:
    dtype, shape, data = item
    return np.frombuffer(data, dtype=np.dtype(dtype)).reshape(shape).copy()


class MindSporeLiteSession(Session):
    """One Lite worker process holding the loaded ``.ms``."""

    needs_onnx = False  # a .ms file runs as it is; other models need their ONNX graph (checked on activate)

    def __init__(self, model: Model, target: str, options: TargetOptions, *, job: Job | None) -> None:
        super().__init__(model, target, options)
        self._job = job
        self._proc: subprocess.Popen | None = None
        self._queue: queue.Queue = queue.Queue()
        self._tmpdir: str | None = None
        if options.graph_optimization != "all":
            self.warnings.append("graph_optimization is ignored on mindspore-lite targets")

    # -- the .ms to run -------------------------------------------------------------------
    def ms_path(self) -> str:
        """The ``.ms`` to run: the source file, or Lite's conversion of the ONNX graph (cached)."""
        model = self.model
        if model.source_format == "mslite" and model.source_path is not None and Path(model.source_path).is_file():
            self.info["ms"] = "source file"
            return str(model.source_path)
        # an unlowered MindIR says here which primitives block ONNX, hence Lite
        path, cached = mslite_env.convert_onnx(mslite_env.model_bytes(model)[0])
        self.info["ms"] = f"converted from ONNX by Lite's converter ({'cached' if cached else 'new'}: {path.name})"
        return str(path)

    # -- lifecycle -------------------------------------------------------------------------
    def activate_impl(self) -> None:
        import os

        python = mslite_env.require()
        path = self.ms_path()
        self._tmpdir = tempfile.mkdtemp(prefix="dstudio-mslite-")
        env = dict(os.environ, **{str(k): str(v) for k, v in self.options.env.items()})
        env.pop("PYTHONPATH", None)  # the worker must not see this interpreter's packages
        stderr = open(Path(self._tmpdir) / "worker.log", "wb")  # noqa: SIM115 (closed with the process)
        self._proc = subprocess.Popen(
            [str(python), str(mslite_env.WORKER), "serve", path, str(self.options.threads or 0)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=env, cwd=self._tmpdir)
        stderr.close()
        threading.Thread(target=self._read_loop, args=(self._proc.stdout, self._queue), daemon=True,
                         name="dstudio-mslite-reader").start()
        cancel = self._job.cancel if self._job is not None else None
        try:
            msg = self._recv(timeout_s=START_TIMEOUT_S, cancel=cancel, what="loading the model")
        except BaseException:
            self._kill()
            raise
        if msg[0] != "ready":
            detail = self._lite_log_error()
            self._kill()
            raise TargetError(f"MindSpore Lite cannot load the model on {self.target}: {msg[1]}"
                              + (f" (Lite: {detail})" if detail else ""), path=path)
        info = msg[1]
        self.info.update({"lite_version": str(info["version"]), "worker_import_ms": f"{info['import_ms']:.0f}",
                          "worker_load_ms": f"{info['load_ms']:.0f}"})
        lite_shapes = {name: tuple(shape) for name, shape in info["inputs"]}
        for spec in self.input_specs:
            want = lite_shapes.get(spec.name)
            if want is not None and all(isinstance(d, int) for d in spec.shape) and tuple(spec.shape) != want:
                self._kill()
                raise TargetError(f"Lite's model takes {spec.name} as {list(want)}, the graph declares "
                                  f"{list(spec.shape)}", path=path)

    def _lite_log_error(self) -> str:
        """The first [ERROR] lines of Lite's own log for this worker: where it actually failed."""
        if not self._tmpdir:
            return ""
        try:
            text = (Path(self._tmpdir) / "worker.log").read_text(errors="replace")
        except OSError:
            return ""
        errors = [line.split("] ", 2)[-1].strip() for line in text.splitlines() if "[ERROR]" in line]
        return "; ".join(errors[:3])[:400]

    @staticmethod
    def _read_loop(stream, out: queue.Queue) -> None:
        while True:
            head = stream.read(4)
            if len(head) < 4:
                out.put(None)
                return
            (size,) = struct.unpack("<I", head)
            out.put(pickle.loads(stream.read(size)))

    def _send(self, msg: tuple) -> None:
        data = pickle.dumps(msg, protocol=4)
        try:
            self._proc.stdin.write(struct.pack("<I", len(data)) + data)
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError, AttributeError):
            raise TargetError(f"the MindSpore Lite worker for {self.target} is not running") from None

    def _recv(self, *, timeout_s: float | None = None, cancel: Callable[[], bool] | None = None, what: str = "") -> tuple:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            try:
                msg = self._queue.get(timeout=POLL_S)
            except queue.Empty:
                msg = ()
            if msg is None or (msg == () and (self._proc is None or self._proc.poll() is not None)):
                code = None if self._proc is None else self._proc.poll()
                self._kill()
                raise TargetError(f"the MindSpore Lite worker exited (code {code}) while {what or 'running'}")
            if msg:
                return msg
            if cancel is not None and cancel():
                self._kill()
                raise Cancelled()
            if deadline is not None and time.monotonic() > deadline:
                self._kill()
                raise TargetError(f"the MindSpore Lite worker did not answer within {timeout_s:.0f} s while {what}")

    def deactivate_impl(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            try:
                self._send(("close",))
                self._proc.wait(timeout=5)
            except (EngineError, subprocess.TimeoutExpired):
                pass
        self._kill()

    def _kill(self) -> None:
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
                self._proc.wait(timeout=5)
            for stream in (self._proc.stdin, self._proc.stdout):
                try:
                    stream.close()
                except (OSError, AttributeError):
                    pass
            self._proc = None
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None
        self._active = False

    # -- running ---------------------------------------------------------------------------
    def _arrays(self, feeds: dict[str, np.ndarray]) -> list[tuple]:
        return [_pack(feeds[s.name]) for s in self.input_specs]

    def infer_impl(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        self._send(("infer", self._arrays(feeds)))
        msg = self._recv(what="running inference")
        if msg[0] != "ok":
            raise TargetError(f"MindSpore Lite inference failed on {self.target}: {msg[1]}")
        return [_unpack(a) for a in msg[1]]

    def timed_impl(self, feeds: dict[str, np.ndarray], iterations: int | None, duration_s: float | None,
                   cancel: Callable[[], bool] | None) -> Iterator[int]:
        """Timing happens in the worker (no pipe in the timed region); latencies stream back."""
        self._send(("bench", self._arrays(feeds), iterations, duration_s))
        yield from stream_latencies(self._send, self._recv, runtime="MindSpore Lite", target=self.target,
                                    alive=lambda: self._proc is not None, cancel=cancel,
                                    stop_timeout_s=START_TIMEOUT_S)

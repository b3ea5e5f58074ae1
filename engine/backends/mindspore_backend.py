"""MindSpore targets: MindIR run natively by ``mindspore.load`` + ``GraphCell`` in a worker process."""

from __future__ import annotations

import importlib.util
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine.backends.base import Backend, Session, TargetInfo, TargetOptions
from engine.backends.worker_stream import stream_latencies
from engine.errors import Cancelled, EngineError, TargetError

if TYPE_CHECKING:
    from engine.jobs import Job
    from engine.model import Model

log = logging.getLogger(__name__)

#: MindSpore's import plus graph compile can take a while on a busy machine.
START_TIMEOUT_S = 600.0
POLL_S = 0.05

OPTIONS_HELP = {
    "threads": "MindSpore runtime threads (set_context(runtime_num_threads)) and OMP_NUM_THREADS",
    "env": "environment of the worker process, set before MindSpore is imported; e.g. ONEDNN_MAX_CPU_ISA=AVX2 "
    "(MindSpore's default oneDNN path is very slow on some AVX-512 CPUs)",
    "graph_optimization": "ignored (MindSpore compiles the graph its own way)",
    "profile": "not supported (use onnxruntime:cpu for per-node timings)",
}


def _mindspore_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mindspore")
    except PackageNotFoundError:
        return ""


def _device_reason(device: str) -> str:
    if device == "gpu" and not (Path("/dev/nvidiactl").exists() or shutil.which("nvidia-smi")):
        return "no NVIDIA GPU found (no /dev/nvidiactl, no nvidia-smi); needs a MindSpore GPU build and CUDA"
    if device == "ascend" and not (any(Path("/dev").glob("davinci[0-9]*")) or Path("/usr/local/Ascend").exists()):
        return "no Ascend NPU found (no /dev/davinci*, no CANN in /usr/local/Ascend)"
    return ""


class MindSporeBackend(Backend):
    """MindSpore, when importable: cpu always, gpu/ascend when the device is present."""

    name = "mindspore"
    devices = ("cpu", "gpu", "ascend")

    def targets(self) -> list[TargetInfo]:
        if importlib.util.find_spec("mindspore") is None:
            reason = "MindSpore is not installed (pip install 'deploy-studio[mindspore]')"
            return [TargetInfo(f"mindspore:{d}", self.name, d, False, reason, OPTIONS_HELP) for d in self.devices]
        version = _mindspore_version()
        infos = []
        for device in self.devices:
            reason = _device_reason(device)
            infos.append(TargetInfo(f"mindspore:{device}", self.name, device, not reason, reason, OPTIONS_HELP, version))
        return infos

    def open(self, model: Model, device: str, options: TargetOptions, job: Job | None) -> Session:
        return MindSporeSession(model, f"mindspore:{device}", options, device=device, job=job)


class MindSporeSession(Session):
    """Talks to one worker process that holds the loaded MindIR."""

    needs_onnx = False  # it runs the source MindIR; an unlowered one included

    def __init__(self, model: Model, target: str, options: TargetOptions, *, device: str, job: Job | None) -> None:
        super().__init__(model, target, options)
        self.device = device
        self._job = job
        self._proc = None
        self._conn = None
        self._tmpdir: str | None = None
        if options.graph_optimization != "all":
            self.warnings.append("graph_optimization is ignored on MindSpore targets")
        if options.env:
            self.info["env"] = " ".join(f"{k}={v}" for k, v in sorted(options.env.items()))

    # -- lifecycle -------------------------------------------------------------------------
    def _mindir_path(self) -> str:
        """The MindIR to run: the source file, or one written by the MindIR writer."""
        model = self.model
        if model.source_format == "mindir" and model.matches_source() and Path(model.source_path).is_file():
            self.info["mindir"] = "source file"
            return str(model.source_path)
        from engine import formats

        try:
            spec = formats.get("mindir")
        except EngineError:
            spec = None
        if spec is None or spec.save is None:
            raise TargetError(
                "MindSpore targets need MindIR and writing MindIR is not available yet in this build",
                path=model.source_path,
                hint="open the model's .mindir file, or use an onnxruntime target",
            )
        self._tmpdir = tempfile.mkdtemp(prefix="dstudio-ms-")
        out = Path(self._tmpdir) / "model.mindir"
        try:
            formats.save(model, out, fmt="mindir", job=self._job)
        except EngineError as exc:
            raise TargetError(f"cannot write the model as MindIR for MindSpore: {exc}", path=model.source_path) from exc
        except Exception as exc:  # the writer is young; any failure becomes one actionable line
            raise TargetError(
                f"cannot write the model as MindIR for MindSpore ({type(exc).__name__}: {exc})",
                path=model.source_path,
                hint="open the model's .mindir file, or use an onnxruntime target",
            ) from exc
        self.info["mindir"] = "converted from the canonical graph"
        return str(out)

    def activate_impl(self) -> None:
        import multiprocessing

        path = self._mindir_path()
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        from engine.backends.mindspore_worker import serve

        self._proc = ctx.Process(
            target=serve,
            args=(child, path, self.device, dict(self.options.env), self.options.threads),
            name="dstudio-mindspore",
            daemon=True,
        )
        self._proc.start()
        child.close()
        self._conn = parent
        cancel = self._job.cancel if self._job is not None else None
        try:
            msg = self._recv(timeout_s=START_TIMEOUT_S, cancel=cancel, what="loading the MindIR")
        except BaseException:
            self._kill()
            raise
        if msg[0] != "ready":
            self._kill()
            raise TargetError(f"MindSpore cannot load the model on {self.target}: {msg[1]}", path=path)
        info = msg[1]
        self.warnings.extend(info.get("warnings", []))
        self.info.update(
            {"mindspore_version": info["mindspore_version"], "worker_import_ms": f"{info['import_ms']:.0f}",
             "worker_load_ms": f"{info['load_ms']:.0f}"}
        )

    def deactivate_impl(self) -> None:
        if self._conn is not None and self._proc is not None and self._proc.is_alive():
            try:
                self._conn.send(("close",))
                self._proc.join(timeout=5)
            except (OSError, EOFError, BrokenPipeError):
                pass
        self._kill()

    def _kill(self) -> None:
        if self._proc is not None:
            if self._proc.is_alive():
                self._proc.terminate()
                self._proc.join(timeout=5)
                if self._proc.is_alive():
                    self._proc.kill()
                    self._proc.join(timeout=5)
            self._proc = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None
        self._active = False

    # -- pipe ------------------------------------------------------------------------------
    def _recv(self, *, timeout_s: float | None = None, cancel: Callable[[], bool] | None = None, what: str = "") -> tuple:
        """Wait for one message, watching for a dead worker, a timeout and a cancel."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            if self._conn is None:
                raise TargetError(f"the MindSpore worker for {self.target} is not running")
            try:
                if self._conn.poll(POLL_S):
                    return self._conn.recv()
            except (EOFError, OSError):
                pass
            if self._proc is None or not self._proc.is_alive():
                code = None if self._proc is None else self._proc.exitcode
                self._kill()
                raise TargetError(f"the MindSpore worker exited (code {code}) while {what or 'running'}",
                                  hint="run with -v to see MindSpore's log on stderr")
            if cancel is not None and cancel():
                self._kill()  # a MindSpore call cannot be interrupted; the worker is the unit of cancel
                raise Cancelled()
            if deadline is not None and time.monotonic() > deadline:
                self._kill()
                raise TargetError(f"the MindSpore worker did not answer within {timeout_s:.0f} s while {what}")

    def _arrays(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return [np.ascontiguousarray(feeds[s.name]) for s in self.input_specs]

    def infer_impl(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        self._conn.send(("infer", self._arrays(feeds)))
        msg = self._recv(what="running inference")
        if msg[0] != "ok":
            raise TargetError(f"MindSpore inference failed on {self.target}: {msg[1]}")
        outs = msg[1]
        if len(outs) != len(self.output_names):
            self.warnings.append(f"MindSpore returned {len(outs)} outputs, the graph declares {len(self.output_names)}")
        return outs

    def timed_impl(
        self,
        feeds: dict[str, np.ndarray],
        iterations: int | None,
        duration_s: float | None,
        cancel: Callable[[], bool] | None,
    ) -> Iterator[int]:
        """Timing happens in the worker (no pipe in the timed region); latencies stream back."""
        self._conn.send(("bench", self._arrays(feeds), iterations, duration_s))
        yield from stream_latencies(self._conn.send, self._recv, runtime="MindSpore", target=self.target,
                                    alive=lambda: self._conn is not None, cancel=cancel,
                                    stop_timeout_s=START_TIMEOUT_S)

"""The MindSpore worker process: loads a MindIR with ``mindspore.load`` and runs it on request.

It runs in a spawned interpreter so that environment knobs (``ONEDNN_MAX_CPU_ISA``, thread
counts) are set before MindSpore is first imported, and so that MindSpore's slow import and
any crash stay out of the caller's process. Messages are pickled tuples over a
``multiprocessing`` pipe:

- worker -> parent, once: ``("ready", info)`` or ``("error", message)``
- ``("infer", arrays)`` -> ``("ok", outputs)`` or ``("error", message)``
- ``("bench", arrays, iterations, duration_s)`` -> ``("lat", ns)`` per run, then ``("done",)``;
  a ``("stop",)`` sent meanwhile ends the loop after the current run
- ``("close",)`` ends the worker
"""

from __future__ import annotations

import os
import sys
import time
import traceback

_DEVICES = {"cpu": "CPU", "gpu": "GPU", "ascend": "Ascend"}


def _flatten(out) -> list:
    if isinstance(out, (tuple, list)):
        return [leaf for item in out for leaf in _flatten(item)]
    return [out]


def _to_numpy(outs) -> list:
    return [o.asnumpy() if hasattr(o, "asnumpy") else o for o in _flatten(outs)]


def serve(conn, path: str, device: str, env: dict, threads: int | None) -> None:
    """Worker entry point (runs in the child). Never returns an exception to the pipe unhandled."""
    # MindSpore and oneDNN may write to stdout; keep the parent's stdout (JSON, tables) clean.
    try:
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    except OSError:
        pass
    os.environ.update({str(k): str(v) for k, v in env.items()})
    if threads:
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    try:
        t0 = time.perf_counter_ns()
        import mindspore as ms

        import_ms = (time.perf_counter_ns() - t0) / 1e6
        ms.set_context(mode=ms.GRAPH_MODE)
        ms.set_device(_DEVICES[device])
        warnings = []
        if threads:
            try:
                ms.set_context(runtime_num_threads=int(threads))
            except Exception as exc:  # the knob moved between MindSpore versions
                warnings.append(f"could not set MindSpore threads: {exc}")
        t1 = time.perf_counter_ns()
        net = ms.nn.GraphCell(ms.load(path))
        load_ms = (time.perf_counter_ns() - t1) / 1e6
    except BaseException as exc:  # report any failure to load, including MindSpore's RuntimeErrors
        conn.send(("error", f"{type(exc).__name__}: {_first_line(exc)}"))
        return
    conn.send(("ready", {"mindspore_version": ms.__version__, "import_ms": import_ms, "load_ms": load_ms,
                         "warnings": warnings, "pid": os.getpid()}))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        kind = msg[0]
        if kind == "close":
            return
        try:
            if kind == "infer":
                tensors = [ms.Tensor(a) for a in msg[1]]
                conn.send(("ok", _to_numpy(net(*tensors))))
            elif kind == "bench":
                _bench(conn, net, [ms.Tensor(a) for a in msg[1]], msg[2], msg[3])
            else:
                conn.send(("error", f"unknown request {kind!r}"))
        except Exception as exc:  # an inference failure is reported, the worker stays up
            sys.stderr.write(traceback.format_exc())
            conn.send(("error", f"{type(exc).__name__}: {_first_line(exc)}"))


def _bench(conn, net, tensors: list, iterations: int | None, duration_s: float | None) -> None:
    """Time each call plus the copy of its outputs to numpy; stream latencies to the parent."""
    clock = time.perf_counter_ns
    deadline = None if duration_s is None else clock() + int(duration_s * 1e9)
    count = 0
    while (iterations is None or count < iterations) and (deadline is None or clock() < deadline):
        start = clock()
        _to_numpy(net(*tensors))
        conn.send(("lat", clock() - start))
        count += 1
        if conn.poll() and conn.recv()[0] == "stop":
            break
    conn.send(("done",))


def _first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:400]

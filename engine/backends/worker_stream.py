"""The latency stream both worker-process backends (MindSpore, MindSpore Lite) share.

A worker times inference itself (no pipe inside the timed region) and sends one
``("lat", ns)`` message per iteration, then ``("done",)``, or ``("error", text)``. When the
caller stops reading early, the worker is asked to stop and drained to its last message, so
the next request does not read a stale latency.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from engine.errors import EngineError, TargetError


def stream_latencies(send: Callable[[tuple], None], recv: Callable[..., tuple], *, runtime: str, target: str,
                     alive: Callable[[], bool], cancel: Callable[[], bool] | None,
                     stop_timeout_s: float) -> Iterator[int]:
    """Yield the worker's per-iteration latencies (ns) after a ``bench`` request was sent.

    Args:
        send: sends one message to the worker.
        recv: ``recv(timeout_s=..., cancel=..., what=...)`` waits for one message.
        runtime: the runtime's name for errors ("MindSpore", "MindSpore Lite").
        target: the target id for errors.
        alive: whether the worker can still be asked to stop.
        cancel: the caller's cancel check, watched while waiting.
        stop_timeout_s: how long draining after an early stop may take.

    Raises:
        TargetError: the worker reported an error.
    """
    finished = False
    try:
        while True:
            msg = recv(cancel=cancel, what="timing")
            if msg[0] == "lat":
                yield int(msg[1])
            elif msg[0] == "done":
                finished = True
                return
            else:
                finished = True
                raise TargetError(f"{runtime} inference failed on {target}: {msg[1]}")
    finally:
        if not finished and alive():
            try:
                send(("stop",))
                while recv(timeout_s=stop_timeout_s, what="stopping")[0] not in ("done", "error"):
                    pass
            except EngineError:
                pass

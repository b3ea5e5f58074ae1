"""Running one mutant through load, inspect and convert in a forked child, with time and memory limits.

The parent imports the engine once (:func:`prepare`); each mutant runs in a ``fork`` of it,
so a crash (a signal), a hang or a memory blow-up takes down only that child. The child
reports each stage over a pipe; the parent kills a stage that runs past its limit. Every
run ends in one outcome, worst first: crash, hang, over-memory, untyped, bad-output, typed, ok.
"""

from __future__ import annotations

import json
import os
import re
import resource
import select
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from tests.fuzz.mutate import Mutant

BAD = ("crash", "hang", "over-memory", "untyped", "bad-output")
ORDER = BAD + ("typed", "ok")
STAGES = ("load", "inspect", "convert")
MB = 1 << 20


@dataclass
class Result:
    """How one mutant ended. ``where`` is the innermost engine frame of an untyped exception."""

    outcome: str
    stage: str = ""
    error: str = ""
    kind: str = ""
    where: str = ""
    seconds: dict[str, float] = field(default_factory=dict)
    growth: int = 0
    budget: int = 0

    @property
    def bad(self) -> bool:
        return self.outcome in BAD

    @property
    def signature(self) -> tuple[str, ...]:
        """What makes two defects the same: outcome, stage, exception type and the code site."""
        detail = ""
        if self.outcome == "bad-output":  # same code site, different problems: tell them apart by the text
            detail = re.sub(r"\S*/", "", self.error)
            detail = re.sub(r"\d+|'[^']*'", "#", detail)[:80]
        return (self.outcome, self.stage, self.kind, self.where, detail)


def prepare() -> None:
    """Import everything a run touches, in the parent, so children start warm and equal."""
    import numpy  # noqa: F401
    import onnx.checker  # noqa: F401
    import onnx.shape_inference  # noqa: F401

    import engine.convert  # noqa: F401
    import engine.flops  # noqa: F401
    import engine.inspect  # noqa: F401
    from engine import formats
    from engine.formats.mindir import lower, writer  # noqa: F401

    formats.formats()


def memory_budget(total_bytes: int) -> int:
    """Peak memory growth allowed: 4x the input files plus 200 MB (the issue's bound)."""
    return 4 * total_bytes + 200 * MB


def run_mutant(mutant: Mutant, folder: Path, *, stage_timeout: float = 5.0) -> Result:
    """Write ``mutant`` into ``folder`` (emptied first) and run it in a forked child."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        if old.is_file() or old.is_symlink():
            old.unlink()
    for name, data in mutant.files.items():
        (folder / name).write_bytes(data)
    total = sum(len(d) for d in mutant.files.values())
    budget = memory_budget(total)
    read_fd, write_fd = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read_fd)
        code = 0
        try:
            _child(write_fd, folder, mutant.main, budget)
        except BaseException:  # noqa: BLE001 - the child must never return into the parent's code
            code = 3
        finally:
            os._exit(code)
    os.close(write_fd)
    return _watch(pid, read_fd, stage_timeout, budget)


def _watch(pid: int, fd: int, stage_timeout: float, budget: int) -> Result:
    events: list[dict] = []
    pending = b""
    stage, started = "load", time.monotonic()
    killed = False
    try:
        while True:
            left = started + stage_timeout - time.monotonic()
            ready, _, _ = select.select([fd], [], [], max(0.0, left))
            if not ready:
                os.kill(pid, signal.SIGKILL)
                killed = True
                break
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                event = json.loads(line)
                events.append(event)
                if event.get("event") == "begin":
                    stage, started = event["stage"], time.monotonic()
    finally:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    seconds = {e["stage"]: e["seconds"] for e in events if e.get("event") == "end"}
    if killed:
        return Result("hang", stage, f"{stage} ran past {stage_timeout:g} s", "timeout", seconds=seconds, budget=budget)
    if os.WIFSIGNALED(status):
        sig = signal.Signals(os.WTERMSIG(status)).name
        return Result("crash", stage, f"killed by {sig}", sig, seconds=seconds, budget=budget)
    final = next((e for e in events if e.get("event") == "done"), None)
    if final is None:
        return Result("crash", stage, f"child exited with status {os.WEXITSTATUS(status)} without a report",
                      "exit", seconds=seconds, budget=budget)
    worst = Result("ok", seconds=seconds, budget=budget, growth=final.get("growth", 0))
    for event in events:
        if event.get("event") != "end" or event["outcome"] == "ok":
            continue
        candidate = Result(event["outcome"], event["stage"], event.get("error", ""), event.get("kind", ""),
                           event.get("where", ""), seconds, final.get("growth", 0), budget)
        if ORDER.index(candidate.outcome) < ORDER.index(worst.outcome):
            worst = candidate
    if worst.growth > budget and ORDER.index("over-memory") < ORDER.index(worst.outcome):
        worst = Result("over-memory", worst.stage or "convert", f"peak memory grew {worst.growth // MB} MB "
                       f"(budget {budget // MB} MB)", "rss", seconds=seconds, growth=worst.growth, budget=budget)
    return worst


# ---------------------------------------------------------------- the child


def _child(fd: int, folder: Path, main: str, budget: int) -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    err = os.open(folder / "stderr.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(devnull, 1)
    os.dup2(err, 2)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    base_rss = _rss()
    vm = _vmsize()
    # Address space: what the parent had, plus the budget, plus slack for thread stacks and
    # allocator arenas (virtual, not resident). Past it, allocation fails with MemoryError.
    limit = vm + budget + 1024 * MB
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.RLIM_INFINITY))

    def send(**event) -> None:
        os.write(fd, (json.dumps(event) + "\n").encode())

    path = folder / main
    model = None
    for stage in STAGES:
        send(event="begin", stage=stage)
        start = time.monotonic()
        try:
            if stage == "load":
                from engine import formats

                model = formats.load(path)
            elif stage == "inspect":
                _inspect(model)
            else:
                problem = _convert(model, folder)
                if problem:
                    send(event="end", stage=stage, outcome="bad-output", error=problem, kind="readback",
                         seconds=time.monotonic() - start)
                    continue
            send(event="end", stage=stage, outcome="ok", seconds=time.monotonic() - start)
        except BaseException as exc:  # noqa: BLE001 - classifying every failure is the point
            send(event="end", stage=stage, seconds=time.monotonic() - start, **_classify(exc))
            if stage == "load":
                break
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    send(event="done", growth=max(0, peak - base_rss))


def _classify(exc: BaseException) -> dict:
    from engine.errors import EngineError

    text = str(exc).strip().splitlines()
    line = text[0][:300] if text else type(exc).__name__
    if isinstance(exc, MemoryError) or (isinstance(exc, EngineError) and "out of memory" in line):
        return {"outcome": "over-memory", "error": line, "kind": "MemoryError", "where": _where(exc)}
    if isinstance(exc, EngineError):
        # formats.load's last-chance wrapper: typed, but the format code did not say what is wrong.
        kind = "catch-all" if "cannot read as " in line and exc.__cause__ is not None else type(exc).__name__
        return {"outcome": "typed", "error": line, "kind": kind,
                "where": _where(exc.__cause__) if kind == "catch-all" else ""}
    return {"outcome": "untyped", "error": line, "kind": type(exc).__name__, "where": _where(exc)}


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/engine/" in f.filename] or frames
    if not ours:
        return ""
    f = ours[-1]
    return f"{Path(f.filename).parent.name}/{Path(f.filename).name}:{f.name}"


def _inspect(model) -> None:
    from engine.cli.output import _default
    from engine.inspect import format_summary, summarize

    summary = summarize(model)
    format_summary(summary)
    json.dumps(summary.to_dict(), indent=2, default=_default)


def _convert(model, folder: Path) -> str:
    """Write the model in every format that can take it; read each back. Returns a problem, or ''."""
    from engine import formats
    from engine.errors import EngineError

    if model.params is None or model.source_format in ("mindir", "onnx"):  # a network: convert as the CLI does
        targets = ["onnx"] if model.source_format == "mindir" else ["mindir"]
    else:
        targets = ["ckpt", "safetensors", "npz"]
    typed: EngineError | None = None
    for target in targets:
        out = folder / f"out.{target}"
        try:
            formats.save(model, out, fmt=target)
        except EngineError as exc:
            leftovers = [p.name for p in folder.iterdir() if p.name == out.name or p.name.startswith(f".{out.name}.")]
            if leftovers:
                return f"refused writing {target} but left {leftovers}"
            typed = exc
            continue
        problem = _read_back(model, out, target)
        if problem:
            return problem
        for leftover in folder.glob(".out.*"):
            return f"temporary {leftover.name} left behind"
    if typed is not None:
        raise typed
    return ""


def _read_back(model, out: Path, target: str) -> str:
    import numpy as np

    from engine import formats
    from engine.errors import EngineError

    try:
        again = formats.load(out, fmt=target)
    except EngineError as exc:
        return f"wrote {target} that does not read back: {str(exc).splitlines()[0][:200]}"
    if target == "onnx":
        import onnx

        try:
            onnx.checker.check_model(str(out), full_check=True)
        except Exception as exc:  # noqa: BLE001
            return f"wrote ONNX that fails onnx.checker full_check: {str(exc).splitlines()[0][:200]}"
    if model.params is not None and not model.is_graph:
        a, b = model.params, again.params
        if set(a) != set(b):
            return f"{target} round trip changed the names: {sorted(set(a) ^ set(b))[:3]}"
        for name in a:
            # Values must survive; byte order need not (a checkpoint is little-endian by definition).
            x, y = (np.asarray(v).astype(np.asarray(v).dtype.newbyteorder("="), copy=False) for v in (a[name], b[name]))
            if x.shape != y.shape or x.dtype != y.dtype or x.tobytes() != y.tobytes():
                return f"{target} round trip changed tensor {name!r}"
    return ""


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _vmsize() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")

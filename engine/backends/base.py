"""The backend and session protocol every inference target implements."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from engine.errors import TargetError
from engine.inputs import TensorSpec, check_feeds, input_specs, output_specs

if TYPE_CHECKING:
    from engine.jobs import Job
    from engine.model import Model

log = logging.getLogger(__name__)

GRAPH_OPT_LEVELS = ("disable", "basic", "extended", "all")


@dataclass
class TargetOptions:
    """Knobs for one session.

    Attributes:
        threads: intra-op threads (None: the backend's default).
        graph_optimization: "disable", "basic", "extended" or "all" (ONNX Runtime levels).
        env: environment variables for the target (applied in a worker process where the
            backend has one, e.g. ONEDNN_MAX_CPU_ISA for MindSpore); recorded with results.
        profile: collect a per-node profile (ONNX Runtime).
        precision: "fp32" (the model as given), "fp16" or "int8": the model is converted in
            memory (with parity proven) before the session opens; see engine.precision.
        spin_wait: let ONNX Runtime's idle pool threads spin between kernels (its default).
            Off, they sleep and leave the cores to other work: a server's request handling, or
            other programs on a shared machine (``dstudio serve`` turns it off).
    """

    threads: int | None = None
    graph_optimization: str = "all"
    env: dict[str, str] = field(default_factory=dict)
    profile: bool = False
    precision: str = "fp32"
    spin_wait: bool = True

    def __post_init__(self) -> None:
        if self.graph_optimization not in GRAPH_OPT_LEVELS:
            raise TargetError(
                f"unknown graph optimization level {self.graph_optimization!r}; use one of {', '.join(GRAPH_OPT_LEVELS)}"
            )
        if self.precision not in ("fp32", "fp16", "int8"):
            raise TargetError(f"unknown precision {self.precision!r}; use fp32, fp16 or int8")
        if self.threads is not None and self.threads < 1:
            raise TargetError(f"threads must be at least 1, not {self.threads}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TargetInfo:
    """One known target and whether this machine can run it.

    Attributes:
        name: what ``open_session`` takes ("onnxruntime:cpu", "mindspore:cpu", "reference").
        backend: the backend family ("onnxruntime", "mindspore", "reference").
        device: "cpu", "cuda", "gpu", "ascend", ...
        available: True when a session can be opened here.
        reason: why not, when unavailable (or a caveat when available).
        options_help: option name -> what it does on this target.
    """

    name: str
    backend: str
    device: str
    available: bool
    reason: str = ""
    options_help: dict = field(default_factory=dict)
    version: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


class Session:
    """An open model on one target. A context manager; ``infer`` checks feeds then runs.

    Subclasses fill in ``activate_impl``, ``infer_impl`` and ``deactivate_impl``; they may
    override ``timed_impl`` when timing has to happen elsewhere (a worker process).
    """

    #: False for backends that run the source file itself (MindSpore on a MindIR), which can
    #: open a network whose ONNX lowering failed; the others refuse it with the reason.
    needs_onnx: bool = True

    def __init__(self, model: Model, target: str, options: TargetOptions) -> None:
        if self.needs_onnx and not model.is_lowered and model.unlowered:
            from engine.errors import UnsupportedOpError

            raise UnsupportedOpError(
                f"{target} runs the ONNX graph, and this file has none: {model.unlowered_message()}",
                path=model.source_path,
                hint="run it on mindspore-lite:cpu (the .ms itself)" if model.source_format == "mslite" else
                "run it on a mindspore target (the MindIR itself), or wait for lowerings of these primitives",
            )
        if self.needs_onnx or model.is_lowered:
            graph = model.require_graph()
            inputs, outputs = input_specs(graph), output_specs(graph)
        else:
            inputs, outputs = model.io_specs()
        self.model = model
        self.target = target
        self.options = options
        self.input_specs: list[TensorSpec] = inputs
        self.output_names: list[str] = [s.name for s in outputs]
        self.warnings: list[str] = []
        self.info: dict[str, str] = {}
        self._active = False

    # -- lifecycle -------------------------------------------------------------------------
    def activate(self) -> None:
        """Make the session ready to run (idempotent)."""
        if not self._active:
            self.activate_impl()
            self._active = True

    def deactivate(self) -> None:
        """Release the session's resources (idempotent)."""
        if self._active:
            self._active = False
            self.deactivate_impl()

    close = deactivate

    def __enter__(self) -> Session:
        self.activate()
        return self

    def __exit__(self, *exc: object) -> None:
        self.deactivate()

    # -- running ---------------------------------------------------------------------------
    def infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run once. Returns output name -> array, in graph order.

        Raises:
            InputError: feeds do not match the model's inputs.
        """
        check_feeds(feeds, self.input_specs)
        self.activate()
        outputs = self.infer_impl(feeds)
        return dict(zip(self.output_names, outputs))

    def timed(
        self,
        feeds: dict[str, np.ndarray],
        *,
        iterations: int | None = None,
        duration_s: float | None = None,
        cancel: Callable[[], bool] | None = None,
    ) -> Iterator[int]:
        """Yield the latency in ns of each run of ``feeds``, until the count or the time is reached.

        Feeds are checked once, before any timing. Closing the iterator stops the runs.
        """
        check_feeds(feeds, self.input_specs)
        self.activate()
        return self.timed_impl(feeds, iterations, duration_s, cancel)

    def timed_impl(
        self,
        feeds: dict[str, np.ndarray],
        iterations: int | None,
        duration_s: float | None,
        cancel: Callable[[], bool] | None,
    ) -> Iterator[int]:
        """In-process timing: perf_counter_ns around one ``infer_impl`` (outputs back on the host)."""
        run = self.infer_impl
        clock = time.perf_counter_ns
        deadline = None if duration_s is None else clock() + int(duration_s * 1e9)
        count = 0
        while (iterations is None or count < iterations) and (deadline is None or clock() < deadline):
            start = clock()
            run(feeds)
            yield clock() - start
            count += 1

    def interrupt(self) -> bool:
        """Ask a run in progress (on another thread) to stop now; False if the backend cannot.

        The interrupted call raises; callers that asked for it turn that into Cancelled.
        """
        return self.interrupt_impl()

    # -- hooks -----------------------------------------------------------------------------
    def activate_impl(self) -> None:
        raise NotImplementedError

    def interrupt_impl(self) -> bool:
        return False

    def infer_impl(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Run once; return host numpy arrays in ``output_names`` order."""
        raise NotImplementedError

    def deactivate_impl(self) -> None:
        return None

    def profile_impl(self, feeds: dict[str, np.ndarray], iterations: int, job: Job | None = None):
        """Per-node profile over ``iterations`` runs; backends without a profiler raise TargetError."""
        raise TargetError(f"profiling is not supported on {self.target}", hint="profile on onnxruntime:cpu")


class Backend:
    """A family of targets (one per device) and how to open sessions on them."""

    name: str = ""
    devices: tuple[str, ...] = ()

    def targets(self) -> list[TargetInfo]:
        """Every device this backend knows, available or not, with the reason."""
        raise NotImplementedError

    def open(self, model: Model, device: str, options: TargetOptions, job: Job | None) -> Session:
        """A new, not yet activated session."""
        raise NotImplementedError

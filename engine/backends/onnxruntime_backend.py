"""ONNX Runtime targets: the CPU provider and whichever execution providers the installed build has."""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine.backends.base import Backend, Session, TargetInfo, TargetOptions
from engine.errors import TargetError

if TYPE_CHECKING:
    from engine.jobs import Job
    from engine.model import Model

log = logging.getLogger(__name__)

#: device name -> (execution provider, what a person must install or have for it).
PROVIDERS: dict[str, tuple[str, str]] = {
    "cpu": ("CPUExecutionProvider", ""),
    "cuda": ("CUDAExecutionProvider", "pip install onnxruntime-gpu, with an NVIDIA GPU and CUDA/cuDNN"),
    "tensorrt": ("TensorrtExecutionProvider", "pip install onnxruntime-gpu, with TensorRT and an NVIDIA GPU"),
    "dml": ("DmlExecutionProvider", "pip install onnxruntime-directml (Windows, DirectX 12 GPU)"),
    "coreml": ("CoreMLExecutionProvider", "the onnxruntime wheel for macOS"),
    "openvino": ("OpenVINOExecutionProvider", "pip install onnxruntime-openvino (Intel CPU/GPU/NPU)"),
}
#: providers that are in a build but are not inference devices in their own right.
_NOT_DEVICES = {"AzureExecutionProvider"}

OPTIONS_HELP = {
    "threads": "intra-op thread count (SessionOptions.intra_op_num_threads; default: ONNX Runtime's choice)",
    "graph_optimization": "disable | basic | extended | all (SessionOptions.graph_optimization_level)",
    "profile": "per-node timings from the ONNX Runtime profiler",
    "spin_wait": "idle pool threads spin between kernels (default on; off frees the cores for other work)",
    "env": "not applied: ONNX Runtime runs in this process; variables are recorded only",
}


def _nvidia_device_present() -> bool:
    return Path("/dev/nvidiactl").exists() or shutil.which("nvidia-smi") is not None


def _device_reason(device: str) -> str:
    """Why an EP that is in the build may still not run here ('' if it may)."""
    import sys

    if device in ("cuda", "tensorrt") and not _nvidia_device_present():
        return "no NVIDIA GPU found (no /dev/nvidiactl, no nvidia-smi)"
    if device == "dml" and sys.platform != "win32":
        return "DirectML runs on Windows only"
    if device == "coreml" and sys.platform != "darwin":
        return "CoreML runs on macOS only"
    return ""


class OnnxRuntimeBackend(Backend):
    """ONNX Runtime, one target per execution provider."""

    name = "onnxruntime"
    devices = tuple(PROVIDERS)

    def targets(self) -> list[TargetInfo]:
        if importlib.util.find_spec("onnxruntime") is None:
            return [
                TargetInfo(f"onnxruntime:{d}", self.name, d, False, "onnxruntime is not installed (pip install onnxruntime)")
                for d in PROVIDERS
            ]
        import onnxruntime as ort

        in_build = set(ort.get_available_providers())
        build = f"onnxruntime {ort.__version__}, {ort.get_device()} build"
        infos = []
        for device, (provider, needs) in PROVIDERS.items():
            if provider not in in_build:
                reason = f"{provider} is not in this build ({build}); needs {needs}"
                infos.append(TargetInfo(f"onnxruntime:{device}", self.name, device, False, reason, OPTIONS_HELP, ort.__version__))
                continue
            reason = _device_reason(device)
            infos.append(
                TargetInfo(f"onnxruntime:{device}", self.name, device, not reason, reason, OPTIONS_HELP, ort.__version__)
            )
        for provider in sorted(in_build - {p for p, _ in PROVIDERS.values()} - _NOT_DEVICES):
            device = provider.removesuffix("ExecutionProvider").lower()
            infos.append(TargetInfo(f"onnxruntime:{device}", self.name, device, True, "", OPTIONS_HELP, ort.__version__))
        return infos

    def provider_for(self, device: str) -> str:
        if device in PROVIDERS:
            return PROVIDERS[device][0]
        import onnxruntime as ort

        for provider in ort.get_available_providers():
            if provider.removesuffix("ExecutionProvider").lower() == device:
                return provider
        raise TargetError(f"onnxruntime has no execution provider called {device!r}")

    def open(self, model: Model, device: str, options: TargetOptions, job: Job | None) -> Session:
        return OnnxRuntimeSession(model, f"onnxruntime:{device}", options, provider=self.provider_for(device))


def session_options(options: TargetOptions, *, profile_prefix: str | None = None):
    """ONNX Runtime SessionOptions for ``options`` (shared with the bare-loop fidelity check)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    levels = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }
    so.graph_optimization_level = levels[options.graph_optimization]
    if options.threads:
        so.intra_op_num_threads = options.threads
    if not options.spin_wait:  # idle pool threads sleep instead of spinning (see TargetOptions.spin_wait)
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        so.add_session_config_entry("session.inter_op.allow_spinning", "0")
    so.log_severity_level = 3  # errors only; warnings about fallbacks are surfaced by us
    if profile_prefix:
        so.enable_profiling = True
        so.profile_file_prefix = profile_prefix
    return so


class OnnxRuntimeSession(Session):
    """An ``onnxruntime.InferenceSession`` on one execution provider."""

    def __init__(self, model: Model, target: str, options: TargetOptions, *, provider: str) -> None:
        super().__init__(model, target, options)
        self.provider = provider
        self._sess = None
        if options.env:
            self.warnings.append(
                "env knobs are recorded but not applied on onnxruntime targets (ONNX Runtime runs in this process)"
            )

    def _create(self, profile_prefix: str | None = None):
        import onnxruntime as ort

        graph = self.model.require_graph()
        so = session_options(self.options, profile_prefix=profile_prefix)
        providers = [self.provider] if self.provider == "CPUExecutionProvider" else [self.provider, "CPUExecutionProvider"]
        try:
            data = graph.SerializeToString()
        except ValueError:  # over 2 GiB: ONNX Runtime must read it from the source file
            if self.model.source_path is None or self.model.source_format != "onnx":
                raise TargetError("model is over 2 GiB and has no ONNX file on disk for ONNX Runtime to read") from None
            data = str(self.model.source_path)
        try:
            sess = ort.InferenceSession(data, sess_options=so, providers=providers)
        except Exception as exc:  # ORT raises its own exception types for invalid graphs
            text = str(exc).strip().splitlines()
            raise TargetError(
                f"ONNX Runtime cannot load the model on {self.target}: {text[0][:300] if text else type(exc).__name__}",
                path=self.model.source_path,
            ) from exc
        if self.provider not in sess.get_providers():
            raise TargetError(
                f"{self.provider} failed to initialise here and ONNX Runtime fell back to {sess.get_providers()}",
                hint="check the GPU driver and CUDA/TensorRT libraries",
            )
        return sess

    def activate_impl(self) -> None:
        import onnxruntime as ort

        self._sess = self._create()
        self._run_options = ort.RunOptions()
        self.info["providers"] = ",".join(self._sess.get_providers())

    def infer_impl(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self._sess.run(self.output_names, feeds, self._run_options)

    def interrupt_impl(self) -> bool:
        """Set ONNX Runtime's terminate flag: the run in progress stops at its next kernel."""
        options = getattr(self, "_run_options", None)
        if options is None:
            return False
        options.terminate = True
        return True

    def deactivate_impl(self) -> None:
        self._sess = None

    def profile_impl(self, feeds: dict[str, np.ndarray], iterations: int, job: Job | None = None):
        """Run ``iterations`` times in a separate profiling session; return the parsed profile."""
        from engine.bench.profile import parse_ort_profile

        tmp = tempfile.mkdtemp(prefix="dstudio-prof-")
        try:
            sess = self._create(profile_prefix=os.path.join(tmp, "ort"))
            for i in range(iterations):
                sess.run(self.output_names, feeds)
                if job is not None:
                    job.report((i + 1) / iterations, "profiling")
            trace = sess.end_profiling()
            return parse_ort_profile(trace, iterations=iterations)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

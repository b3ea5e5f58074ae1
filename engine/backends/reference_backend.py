"""The ONNX reference evaluator as a target: slow, pure numpy, independent of ONNX Runtime."""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

import numpy as np

from engine.backends.base import Backend, Session, TargetInfo, TargetOptions
from engine.errors import TargetError

if TYPE_CHECKING:
    from engine.jobs import Job
    from engine.model import Model

OPTIONS_HELP = {"threads": "ignored (numpy decides)", "graph_optimization": "ignored (runs the graph as written)"}


class ReferenceBackend(Backend):
    """``onnx.reference.ReferenceEvaluator``: a second opinion, not a deployment target."""

    name = "reference"
    devices = ("cpu",)

    def targets(self) -> list[TargetInfo]:
        ok = importlib.util.find_spec("onnx.reference") is not None
        reason = "" if ok else "this onnx has no onnx.reference (needs onnx>=1.13)"
        import onnx

        return [TargetInfo("reference", self.name, "cpu", ok, reason, OPTIONS_HELP, onnx.__version__)]

    def open(self, model: Model, device: str, options: TargetOptions, job: Job | None) -> Session:
        return ReferenceSession(model, "reference", options)


def _inference_batchnorm():
    """BatchNormalization with inference semantics for every opset.

    onnx.reference's BatchNormalization_9 blends batch statistics into the running ones
    because the schema default fills ``momentum``, so BN-9..13 models (MindSpore exports
    opset 11) come out wrong (off by ~1e-2 on the fixtures). ONNX Runtime and MindSpore use
    the running statistics; so does this. ``training_mode=1`` (BN-14+) keeps the evaluator's
    training computation.
    """
    from onnx.reference.op_run import OpRun
    from onnx.reference.ops.op_batch_normalization import _batchnorm_test_mode, _batchnorm_training_mode

    class BatchNormalization(OpRun):
        op_domain = ""

        def _run(self, x, scale, bias, mean, var, epsilon=None, momentum=None, training_mode=None,
                 is_test=None, spatial=None):
            eps = 1e-5 if epsilon is None else epsilon
            if training_mode:
                res, _, _, out_mean, out_var = _batchnorm_training_mode(x, scale, bias, mean, var, momentum, eps)
                return res, out_mean, out_var
            return (_batchnorm_test_mode(x, scale, bias, mean, var, epsilon=eps),)

    return BatchNormalization


class ReferenceSession(Session):
    """Evaluates the graph node by node in numpy."""

    def activate_impl(self) -> None:
        from onnx.reference import ReferenceEvaluator

        try:
            self._ev = ReferenceEvaluator(self.model.require_graph(), new_ops=[_inference_batchnorm()])
        except Exception as exc:  # unsupported op or malformed graph inside the evaluator
            raise TargetError(f"the ONNX reference evaluator cannot run this model: {str(exc)[:300]}") from exc

    def infer_impl(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        try:
            outs = self._ev.run(self.output_names, feeds)
        except Exception as exc:
            raise TargetError(f"the ONNX reference evaluator failed: {str(exc).splitlines()[0][:300]}") from exc
        return [np.asarray(o) for o in outs]

    def deactivate_impl(self) -> None:
        self._ev = None

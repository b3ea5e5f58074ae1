"""Triton model repositories for the ONNX Runtime backend: ``<name>/config.pbtxt`` and ``<name>/1/model.onnx``.

``config.pbtxt`` is protobuf text format of Triton's ``inference.ModelConfig``; it is written
here as text (the engine does not depend on Triton), and the tests parse it with Triton's
own schema (``tritonclient.grpc.model_config_pb2``). What goes in it:

1. ``backend: "onnxruntime"``, ``max_batch_size`` and, when it is over 0, ``dynamic_batching``
   (dims then leave out the batch dimension, which the packaged graph has as a symbolic
   ``batch``); a dynamic dimension is ``-1``.
2. Inputs and outputs by the graph's names, with ``TYPE_*`` data types.
3. ``instance_group``: ``count`` instances of ``KIND_CPU`` or ``KIND_GPU`` (from the target).
4. ORT parameters: ``intra_op_thread_count`` when threads are given, ``optimization.graph.level``
   from the graph optimization level (Triton's mapping: -1 basic, 1 extended, 2 disabled, unset all),
   and the TensorRT or OpenVINO execution accelerator for those targets.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np

from engine.errors import TargetError
from engine.inputs import TensorSpec

#: numpy dtype name -> Triton DataType enum name.
TRITON_TYPES = {
    "bool": "TYPE_BOOL", "uint8": "TYPE_UINT8", "uint16": "TYPE_UINT16", "uint32": "TYPE_UINT32",
    "uint64": "TYPE_UINT64", "int8": "TYPE_INT8", "int16": "TYPE_INT16", "int32": "TYPE_INT32",
    "int64": "TYPE_INT64", "float16": "TYPE_FP16", "float32": "TYPE_FP32", "float64": "TYPE_FP64",
    "bfloat16": "TYPE_BF16", "object": "TYPE_STRING",
}
#: our graph optimization level -> Triton ORT backend's optimization.graph.level (None: leave unset = all).
GRAPH_LEVELS = {"all": None, "extended": 1, "basic": -1, "disable": 2}
#: onnxruntime device -> (instance kind, execution accelerator or None).
DEVICES = {
    "cpu": ("KIND_CPU", None),
    "openvino": ("KIND_CPU", ("cpu_execution_accelerator", "openvino")),
    "cuda": ("KIND_GPU", None),
    "tensorrt": ("KIND_GPU", ("gpu_execution_accelerator", "tensorrt")),
}


def triton_type(dtype: np.dtype) -> str:
    """The Triton data type of a numpy dtype; TargetError for one Triton cannot carry."""
    name = np.dtype(dtype).name
    if name not in TRITON_TYPES:
        raise TargetError(f"Triton has no data type for {name}")
    return TRITON_TYPES[name]


def device_of(target: str) -> str:
    """The onnxruntime device of ``target``; TargetError for targets Triton's ORT backend does not run."""
    from engine.backends import parse_target

    backend, device = parse_target(target)
    if backend != "onnxruntime" or device not in DEVICES:
        raise TargetError(f"a Triton package runs on Triton's ONNX Runtime backend; target {target!r} is not one of "
                          f"{', '.join('onnxruntime:' + d for d in DEVICES)}")
    return device


def _dims(spec: TensorSpec, batched: bool) -> list[int]:
    dims = [d if isinstance(d, int) else -1 for d in spec.shape]
    return dims[1:] if batched else dims


def _tensor(spec: TensorSpec, batched: bool) -> str:
    dims = ", ".join(str(d) for d in _dims(spec, batched))
    return f'  {{\n    name: {json.dumps(spec.name)}\n    data_type: {triton_type(spec.dtype)}\n    dims: [ {dims} ]\n  }}'


def config_pbtxt(name: str, inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec], *, target: str,
                 max_batch: int, instances: int, threads: int | None = None, graph_optimization: str = "all",
                 queue_delay_us: int = 100) -> str:
    """The text of ``config.pbtxt`` (see the module docstring for what it holds)."""
    kind, accelerator = DEVICES[device_of(target)]
    batched = max_batch > 0
    lines = [
        f"# Triton model configuration written by Deploy Studio for {target}",
        f"name: {json.dumps(name)}",
        'backend: "onnxruntime"',
        f"max_batch_size: {max_batch}",
        "input [\n" + ",\n".join(_tensor(s, batched) for s in inputs) + "\n]",
        "output [\n" + ",\n".join(_tensor(s, batched) for s in outputs) + "\n]",
        f"instance_group [\n  {{\n    count: {instances}\n    kind: {kind}\n  }}\n]",
    ]
    if batched:
        lines.append(f"dynamic_batching {{\n  max_queue_delay_microseconds: {queue_delay_us}\n}}")
    optimization = []
    level = GRAPH_LEVELS[graph_optimization]
    if level is not None:
        optimization.append(f"  graph {{\n    level: {level}\n  }}")
    if accelerator is not None:
        field, accel = accelerator
        optimization.append(f"  execution_accelerators {{\n    {field} [\n      {{\n        name: {json.dumps(accel)}\n"
                            "      }\n    ]\n  }")
    if optimization:
        lines.append("optimization {\n" + "\n".join(optimization) + "\n}")
    if threads:
        lines.append(f'parameters {{\n  key: "intra_op_thread_count"\n  value: {{\n    string_value: "{int(threads)}"\n  }}\n}}')
    return "\n".join(lines) + "\n"


V2_CLIENT = """\
\"\"\"Send the validation inputs to a V2 (Open Inference Protocol) server and compare with the expected outputs.

Usage: python example_request.py [http://localhost:8000]   (needs numpy only)
\"\"\"
import json
import sys
import urllib.request
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
MODEL = {name!r}
BATCHED = {batched!r}

url = (sys.argv[1] if len(sys.argv) > 1 else "http://localhost:8000").rstrip("/")
inputs = np.load(HERE / "validation_inputs.npz")
expected = np.load(HERE / "validation_outputs.npz")
types = {{"float32": "FP32", "float16": "FP16", "float64": "FP64", "int64": "INT64", "int32": "INT32",
         "int8": "INT8", "uint8": "UINT8", "bool": "BOOL"}}
body = {{"inputs": [{{"name": k, "shape": list(v.shape), "datatype": types[v.dtype.name],
                    "data": v.ravel().tolist()}} for k, v in inputs.items()]}}
request = urllib.request.Request(f"{{url}}/v2/models/{{MODEL}}/infer", data=json.dumps(body).encode(),
                                 headers={{"Content-Type": "application/json"}})
with urllib.request.urlopen(request) as response:
    answer = json.load(response)
for out in answer["outputs"]:
    got = np.asarray(out["data"], dtype=np.float64).reshape(out["shape"])
    want = expected[out["name"]]
    print(f"{{out['name']}}: shape {{out['shape']}}, max abs difference to validation {{np.abs(got - want).max():.3g}}")
"""

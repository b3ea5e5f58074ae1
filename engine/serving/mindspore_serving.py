"""MindSpore Serving servables: ``<name>/servable_config.py`` and ``<name>/1/<name>.mindir``, plus start and client scripts.

The layout is MindSpore Serving's (1.5 and later): the servable directory holds one folder
per servable, with ``servable_config.py`` and a numbered version folder holding the model
file. ``servable_config.py`` declares the model with ``register.declare_model`` and one
method, ``predict``, whose stages are: ``preprocess`` (a Python function, identity as
written), the model, ``postprocess`` (identity). Method parameters are the model's input
names made into Python identifiers, in the model's input order (Serving binds them to the
model by position).

MindSpore Serving has wheels only for Python 3.7 and 3.9, so it is not run here: the tests
execute ``servable_config.py`` against a stand-in of ``mindspore_serving.server.register``
that records the calls.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Sequence

from engine.errors import TargetError
from engine.inputs import TensorSpec

#: mindspore device -> MindSpore Serving's device_type.
DEVICE_TYPES = {"cpu": "CPU", "gpu": "GPU", "ascend": "Ascend"}


def device_type(target: str) -> str:
    """MindSpore Serving's ``device_type`` for a mindspore target; TargetError for any other."""
    from engine.backends import parse_target

    backend, device = parse_target(target)
    if backend != "mindspore" or device not in DEVICE_TYPES:
        raise TargetError(f"a MindSpore Serving package runs on MindSpore; target {target!r} is not one of "
                          f"{', '.join('mindspore:' + d for d in DEVICE_TYPES)}")
    return DEVICE_TYPES[device]


def identifiers(names: Sequence[str]) -> list[str]:
    """Python identifiers for tensor names (``Default/x:0`` -> ``x_0``), unique, in order."""
    out: list[str] = []
    for name in names:
        base = name.rsplit(":", 1)[-1] if ":" in name and not name.rsplit(":", 1)[-1].isdigit() else name
        ident = re.sub(r"\W", "_", base).strip("_") or "x"
        if ident[0].isdigit() or keyword.iskeyword(ident):
            ident = f"x_{ident}"
        candidate, n = ident, 1
        while candidate in out:
            n += 1
            candidate = f"{ident}_{n}"
        out.append(candidate)
    return out


def servable_config(model_file: str, inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec], *,
                    with_batch_dim: bool, source: str) -> str:
    """The text of ``servable_config.py``."""
    ins = identifiers([s.name for s in inputs])
    outs = identifiers([s.name for s in outputs])
    sig_in = "\n".join(f"#   {i}: {s.name!r} {s.dtype.name} {s.shape_text()}" for i, s in zip(ins, inputs))
    sig_out = "\n".join(f"#   {o}: {s.name!r} {s.dtype.name} {s.shape_text()}" for o, s in zip(outs, outputs))
    return _render(model_file, ins, outs, sig_in, sig_out, with_batch_dim, source)


def _render(model_file: str, ins: list[str], outs: list[str], sig_in: str, sig_out: str, with_batch_dim: bool,
            source: str) -> str:
    args, results = ", ".join(ins), ", ".join(outs)
    batch_note = ("each request instance leaves out the first (batch) dimension" if with_batch_dim
                  else "each request instance carries the whole tensor")
    return f'''"""MindSpore Serving servable for {model_file}, written by Deploy Studio from {source}."""

from mindspore_serving.server import register

# Inputs, in the model's order (method parameter: model tensor, dtype, shape):
{sig_in}
# Outputs:
{sig_out}
# with_batch_dim={with_batch_dim}: {batch_note}.
model = register.declare_model(model_file={model_file!r}, model_format="MindIR", with_batch_dim={with_batch_dim})


# ---- pre-processing: edit here (runs in Python on each instance, before the model) ----
def preprocess({args}):
    """Identity as written. Decode, resize or normalise here; return the model's inputs in order."""
    return {args}


# ---- post-processing: edit here (runs in Python on each instance, after the model) ----
def postprocess({results}):
    """Identity as written. Turn logits into labels here; return what the client receives."""
    return {results}


@register.register_method(output_names=[{", ".join(repr(o) for o in outs)}])
def predict({args}):
    {args} = register.add_stage(preprocess, {args}, outputs_count={len(ins)})
    {results} = register.add_stage(model, {args}, outputs_count={len(outs)})
    {results} = register.add_stage(postprocess, {results}, outputs_count={len(outs)})
    return {results}
'''


def server_script(name: str, device: str, instances: int) -> str:
    """``serving_server.py``: starts the servable with gRPC on 5500 and REST on 1500."""
    return f'''"""Start MindSpore Serving on this folder's servable {name!r} (gRPC 127.0.0.1:5500, REST 127.0.0.1:1500)."""

import os

from mindspore_serving import server


def start():
    # this script sits in the servable's folder; the servable directory is the folder above it
    servable_dir = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
    config = server.ServableStartConfig(servable_directory=servable_dir, servable_name={name!r},
                                        device_ids=tuple(range({instances})), device_type={device!r})
    server.start_servables(servable_configs=config)
    server.start_grpc_server(address="127.0.0.1:5500")
    server.start_restful_server(address="127.0.0.1:1500")


if __name__ == "__main__":
    start()
'''


def client_script(name: str, ins: list[str], input_names: list[str], outs: list[str], output_names: list[str],
                  with_batch_dim: bool) -> str:
    """``serving_client.py``: sends the validation inputs over REST and compares with the expected outputs."""
    strip = "[0]" if with_batch_dim else ""
    pairs_in = ", ".join(f"({i!r}, {n!r})" for i, n in zip(ins, input_names))
    pairs_out = ", ".join(f"({o!r}, {n!r})" for o, n in zip(outs, output_names))
    return f'''"""Send the validation inputs to MindSpore Serving's REST endpoint and compare with the expected outputs.

Usage: python serving_client.py [http://127.0.0.1:1500]   (needs numpy only)
"""

import json
import sys
import urllib.request
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
url = (sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:1500").rstrip("/")
inputs = np.load(HERE / "validation_inputs.npz")
expected = np.load(HERE / "validation_outputs.npz")
instance = {{param: inputs[tensor]{strip}.tolist() for param, tensor in [{pairs_in}]}}
request = urllib.request.Request(f"{{url}}/model/{name}:predict", data=json.dumps({{"instances": [instance]}}).encode())
with urllib.request.urlopen(request) as response:
    answer = json.load(response)["instances"][0]
for param, tensor in [{pairs_out}]:
    got = np.asarray(answer[param], dtype=np.float64)
    want = expected[tensor]{strip}
    print(f"{{param}}: max abs difference to validation {{np.abs(got - want).max():.3g}}")
'''

"""The README.md a deploy package carries: how to start the server, an example request, what was validated."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from engine.inputs import TensorSpec
from engine.model import Model


def _tensors(specs: Sequence[TensorSpec]) -> str:
    return "\n".join(f"| `{s.name}` | {s.dtype.name} | {s.shape_text()} |" for s in specs)


def _num(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def _validation(report: dict[str, Any]) -> str:
    parity = report.get("parity", {})
    lines = [f"Validated: **{'passed' if report.get('passed') else 'FAILED'}**. "
             f"Reference: `{report['reference']['model']}` on `{report['reference']['target']}`; "
             f"candidate: the packaged model on `{report['candidate']['target']}`; "
             f"inputs: {report['inputs']['source']}, saved in `validation_inputs.npz` "
             "(the reference's outputs in `validation_outputs.npz`).", "",
             "| output | max abs error | max rel error | rtol / atol | passed |", "|---|---|---|---|---|"]
    for o in parity.get("outputs", []):
        lines.append(f"| `{o.get('name')}` | {_num(o.get('max_abs'))} | {_num(o.get('max_rel'))} | "
                     f"{o.get('rtol')} / {o.get('atol')} | {'yes' if o.get('passed') else 'no'} |")
    if report.get("error"):
        lines += ["", f"Error: {report['error']}."]
    check = report.get("batch_check")
    if check:
        lines += ["", f"Batching: one batch of {check['batch']} against the same samples one by one on the packaged "
                      f"model: **{'passed' if check['passed'] else 'FAILED'}**"
                      + (f" ({check['error']})" if check.get("error") else "") + "."]
    for note in report.get("notes", []):
        lines += ["", f"Note: {note}."]
    lines += ["", "Full report: `validation.json`."]
    return "\n".join(lines)


def readme(fmt: str, name: str, target: str, model: Model, ins: Sequence[TensorSpec], outs: Sequence[TensorSpec],
           max_batch: int, instances: int, report: dict[str, Any]) -> str:
    """The package's README.md text."""
    head = [f"# {name}: {'Triton model repository' if fmt == 'triton' else 'MindSpore Serving servable'}", "",
            f"Written by Deploy Studio (`dstudio package`) from `{model.name}` for `{target}`.", "",
            "| input | dtype | shape |", "|---|---|---|", _tensors(ins), "", "| output | dtype | shape |", "|---|---|---|",
            _tensors(outs), ""]
    if fmt == "triton":
        body = [
            "## Layout", "", "```", "config.pbtxt          model configuration (ONNX Runtime backend)",
            "1/model.onnx          the model, version 1", "example_request.py    sends the validation inputs",
            "validation.json       parity of the packaged model against the source", "```", "",
            f"This folder is one model of a Triton model repository: put `{name}/` in the repository folder.", "",
            f"`max_batch_size` is {max_batch}" + (" with dynamic batching (dims in config.pbtxt leave out the batch "
                                                 "dimension)" if max_batch else " (no batching)")
            + f"; {instances} instance{'s' if instances > 1 else ''}.", "",
            "## Start the server", "", "```",
            "cd ..   # the model repository", "docker run --rm -p 8000:8000 -p 8001:8001 -v \"$PWD\":/models \\",
            "  nvcr.io/nvidia/tritonserver:<yy.mm>-py3 tritonserver --model-repository=/models", "```", "",
            "(add `--gpus all` for a GPU instance group). Or serve the same ONNX file locally with the same protocol:",
            "", "```", f"dstudio serve 1/model.onnx --name {name} --port 8000", "```", "",
            "## Example request", "", "```", f"curl localhost:8000/v2/models/{name}", "python example_request.py "
            "http://localhost:8000     # V2 infer with the validation inputs; prints the difference", "```",
        ]
    else:
        body = [
            "## Layout", "", "```", "servable_config.py    declares the model and the `predict` method (pre/post-processing "
            "stages marked)", f"1/{name}.mindir   the model, version 1",
            "serving_server.py     starts MindSpore Serving on the folder above (the servable directory)",
            "serving_client.py     sends the validation inputs over REST",
            "validation.json       parity of the packaged model against the source", "```", "",
            "## Start the server", "",
            "MindSpore Serving installs from wheels for Python 3.7/3.9 (`pip install mindspore-serving`); then:", "",
            "```", "python serving_server.py      # gRPC 127.0.0.1:5500, REST 127.0.0.1:1500", "```", "",
            "## Example request", "", "```", "python serving_client.py http://127.0.0.1:1500", "```", "",
            f"(a POST of `{{\"instances\": [{{...}}]}}` to `http://127.0.0.1:1500/model/{name}:predict`).",
            "", "Deploy Studio could not run MindSpore Serving itself (no wheel for this Python); it checked the "
            "layout, executed `servable_config.py` against a stand-in of the `register` API in its tests, and "
            "ran the packaged MindIR below.",
        ]
    return "\n".join(head + body + ["", "## Validation", "", _validation(report), ""])

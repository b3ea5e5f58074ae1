"""Deploy packages for a serving runtime: MindSpore Serving servables and Triton model repositories.

``package(model, fmt, out)`` writes the runtime's layout (see ``triton.py`` and
``mindspore_serving.py``), then proves it: the packaged model file is read back and run
on the package's runtime, and compared with the source model on its own runtime
(MindSpore for a MindIR when it is installed, ONNX Runtime otherwise) on seeded inputs,
with ``engine.validate``'s parity rules. With a batch dimension made dynamic, a batch is
also run and compared with the same samples run one by one. The package carries
``validation.json`` (the report), ``validation_inputs.npz`` and ``validation_outputs.npz``
(what was sent, what the source answered), a ``README.md`` with the command that starts the
server and an example request, and a client script that sends those inputs. Everything goes
in ``DIR/<name>/``, so one folder (a Triton model repository, a Serving servable directory)
holds many packages; Triton and MindSpore Serving ignore the extra files.

A package whose validation fails is still written (the report says what differs) and
:class:`PackageResult` is falsy; a request that cannot be expressed exactly (a batch the
graph cannot take, a target the runtime does not have) is refused before anything is written.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import EngineError, InputError, OutputPathError, TargetError
from engine.fileio import atomic_write_bytes
from engine.jobs import Job, as_job
from engine.model import Model

log = logging.getLogger(__name__)

FORMATS = ("mindspore-serving", "triton")
DEFAULT_TARGETS = {"mindspore-serving": "mindspore:cpu", "triton": "onnxruntime:cpu"}
#: batch used to check a dynamic batch dimension (runs once batched, once sample by sample).
BATCH_CHECK = 2


@dataclass
class PackageResult:
    """What ``package`` wrote and what its validation found."""

    format: str
    folder: Path
    name: str
    model_file: Path
    files: list[Path] = field(default_factory=list)
    max_batch: int = 0
    validation: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.validation.get("passed"))

    def __bool__(self) -> bool:
        return self.passed

    def to_dict(self) -> dict[str, Any]:
        return {"format": self.format, "folder": str(self.folder), "name": self.name, "model_file": str(self.model_file),
                "files": [str(f) for f in self.files], "max_batch": self.max_batch, "passed": self.passed,
                "validation": self.validation, "notes": list(self.notes)}


def _available(target: str) -> bool:
    from engine.backends import canonical_name, list_targets

    name = canonical_name(target)
    return any(i.name == name and i.available for i in list_targets())


def _run(model: Model, target: str, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    from engine.backends import open_session

    with open_session(model, target) as session:
        return {k: np.asarray(v) for k, v in session.infer(feeds).items()}


def _run_safely(model: Model, target: str, feeds: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray] | None, str]:
    """(outputs, "") or (None, the runtime's first error line): a packaged model that fails to run is a finding."""
    try:
        return _run(model, target, feeds), ""
    except InputError:
        raise
    except Exception as exc:  # ONNX Runtime raises its own types for a Reshape that cannot take the batch
        return None, ((str(exc).strip().splitlines() or [type(exc).__name__])[0])[:300]


def _batch_check(model: Model, target: str, specs: list, batch: int, seed: int) -> dict[str, Any]:
    """One batch of ``batch`` seeded samples against the same samples one by one, on ``target``."""
    from engine.inputs import make_feeds
    from engine.validate import compare_outputs

    samples = [make_feeds(specs, seed=seed + i) for i in range(batch)]
    stacked = {k: np.concatenate([s[k] for s in samples]) for k in samples[0]}
    singles = []
    for sample in samples:
        out, error = _run_safely(model, target, sample)
        if out is None:
            return {"batch": batch, "passed": False, "error": f"one sample: {error}"}
        singles.append(out)
    got, error = _run_safely(model, target, stacked)
    if got is None:
        return {"batch": batch, "passed": False, "error": f"a batch of {batch}: {error}"}
    expect = {k: np.concatenate([o[k] for o in singles]) for k in singles[0]}
    parity = compare_outputs(expect, got, reference_label=f"{batch} samples one by one",
                             candidate_label=f"one batch of {batch}")
    return {"batch": batch, "passed": parity.passed, "parity": parity.to_dict()}


def _batched_graph(model: Model, max_batch: int | None) -> tuple[Model, int, str]:
    """The model with a symbolic batch dimension, the max batch to declare, and a note (why 0, if it is).

    The batch is made dynamic by ``FixShapes``, then proven on onnxruntime:cpu: a batch of
    two must give what the samples give one by one (a Reshape to a fixed batch passes shape
    inference and fails only here). Asked for a batch (``max_batch`` > 0) that cannot be had,
    this refuses; left to choose (None), it packages without batching and says why.
    """
    from engine.passes.fix_shapes import FixShapes

    graph = model.require_graph()
    if max_batch == 0:
        return model, 0, ""
    ins, outs = model.io_specs()
    firsts = {s.shape[0] if s.shape else "scalar" for s in ins + outs}
    why = ""
    batched = model
    if any(not s.shape for s in ins + outs):
        why = "an input or output is a scalar, so there is no batch dimension"
    elif len(firsts) > 1 and not all(isinstance(d, str) for d in firsts):
        why = f"inputs and outputs do not share a first dimension ({sorted(map(str, firsts))})"
    if not why:
        try:
            freed = FixShapes(dynamic_batch=True).call(graph).model
        except EngineError as exc:
            why = f"the batch dimension cannot be made dynamic: {exc}"
        else:
            batched = Model(onnx=freed, source_path=model.source_path, source_format=model.source_format,
                            metadata=dict(model.metadata))
            fixed = [s.name for s in batched.io_specs()[1] if not isinstance(s.shape[0], str)]
            if fixed:
                why = f"the graph hard-codes the batch of output {', '.join(map(repr, fixed))}"
    if not why:
        check = _batch_check(batched, "onnxruntime:cpu", ins, BATCH_CHECK, seed=0)
        if not check["passed"]:
            why = "the graph does not take a batch: " + (check.get("error") or
                                                          f"a batch of {BATCH_CHECK} differs from one by one")
    if why:
        if max_batch is not None:
            raise InputError(f"cannot package with --max-batch {max_batch}: {why}", path=model.source_path,
                             hint="use --max-batch 0 (no batching)")
        return model, 0, f"max_batch_size 0 (no batching): {why}"
    return batched, (8 if max_batch is None else max_batch), ""


def _validate(source: Model, packaged: Model, ref_target: str, cand_target: str, *, batch: int,
              seed: int = 0) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Parity of ``packaged`` on ``cand_target`` against ``source`` on ``ref_target``; plus a batch check.

    Raises:
        TargetError: the source itself does not run (nothing to validate against).
    """
    from engine.inputs import make_feeds
    from engine.validate import compare_outputs

    specs = source.io_specs()[0]
    feeds = make_feeds(specs, seed=seed)
    ref, error = _run_safely(source, ref_target, feeds)
    if ref is None:
        raise TargetError(f"the source model does not run on {ref_target}, so the package cannot be validated: "
                          f"{error}", path=source.source_path)
    report: dict[str, Any] = {"passed": False,
                              "reference": {"model": str(source.source_path or source.name), "target": ref_target},
                              "candidate": {"model": packaged.name, "target": cand_target},
                              "inputs": {"source": f"generated (seed {seed})",
                                         "tensors": {k: {"shape": list(v.shape), "dtype": v.dtype.name}
                                                     for k, v in feeds.items()},
                                         "file": "validation_inputs.npz"}}
    cand, error = _run_safely(packaged, cand_target, feeds)
    if cand is None:
        report["error"] = f"the packaged model failed on {cand_target}: {error}"
        return report, feeds, ref
    if set(cand) != set(ref) and len(cand) == len(ref):
        cand = dict(zip(ref, cand.values()))
    parity = compare_outputs(ref, cand, reference_label=f"{source.name} on {ref_target}",
                             candidate_label=f"packaged {packaged.name} on {cand_target}")
    report["passed"] = parity.passed
    report["parity"] = parity.to_dict()
    if batch > 1:
        report["batch_check"] = _batch_check(packaged, cand_target, specs, batch, seed)
        report["passed"] = report["passed"] and report["batch_check"]["passed"]
    return report, feeds, ref


def _reference_target(source: Model) -> tuple[str, str]:
    """The source's own runtime: MindSpore for a MindIR when installed, else ONNX Runtime (with a note)."""
    if source.source_format == "mindir":
        if _available("mindspore:cpu"):
            return "mindspore:cpu", ""
        return "onnxruntime:cpu", "MindSpore is not installed: the source MindIR ran as converted to ONNX, on onnxruntime:cpu"
    return "onnxruntime:cpu", ""


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    import io

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def package(
    model: Model,
    fmt: str,
    out: str | Path,
    *,
    target: str | None = None,
    name: str | None = None,
    max_batch: int | None = None,
    instances: int = 1,
    threads: int | None = None,
    graph_optimization: str = "all",
    overwrite: bool = False,
    job: Job | None = None,
) -> PackageResult:
    """Write a ``fmt`` package of ``model`` into folder ``out`` and validate it.

    Args:
        fmt: "mindspore-serving" or "triton".
        target: the runtime's device ("onnxruntime:cpu|cuda|tensorrt|openvino" for Triton,
            "mindspore:cpu|gpu|ascend" for MindSpore Serving); default the CPU one.
        name: servable / model name (default: the source file's stem).
        max_batch: Triton's max_batch_size (default: 8 when the batch dimension can be made
            dynamic, else 0); MindSpore Serving batches to the MindIR's own batch and refuses it.
        instances: model instances (Triton instance_group count; MindSpore Serving device ids).
        threads: intra-op threads (Triton's ORT ``intra_op_thread_count``).
        graph_optimization: ONNX Runtime graph optimization level for Triton.
        overwrite: replace an existing package folder of the same name.

    Raises:
        InputError, TargetError: a request the format cannot express.
        OutputPathError: ``out`` is a file, or the package folder exists and ``overwrite`` is False.
    """
    from engine import formats
    from engine.serving import mindspore_serving as mss
    from engine.serving import triton

    job = as_job(job)
    if fmt not in FORMATS:
        raise InputError(f"unknown package format {fmt!r}; use one of {', '.join(FORMATS)}")
    if instances < 1:
        raise InputError(f"instances must be at least 1, not {instances}")
    if max_batch is not None and max_batch < 0:
        raise InputError(f"max batch must be 0 or more, not {max_batch}")
    target = target or DEFAULT_TARGETS[fmt]
    model.require_graph()
    name = name or _stem(model)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputPathError("package output is a file; give a folder", path=out)
    folder = out / name
    if folder.exists() and not overwrite:
        raise OutputPathError("a package of that name is already there", path=folder,
                              hint="choose another -o or --name, or --force")
    ins, outs = model.io_specs()
    notes: list[str] = []
    ref_target, note = _reference_target(model)
    if note:
        notes.append(note)

    job.report(0.05, "preparing the model")
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=out if out.is_dir() else None))
    try:
        if fmt == "triton":
            triton.device_of(target)
            packaged, batch, why = _batched_graph(model, max_batch)
            if why:
                notes.append(why)
            b_ins, b_outs = packaged.io_specs()
            model_rel = Path(name) / "1" / "model.onnx"
            (staging / name / "1").mkdir(parents=True)
            formats.save(packaged, staging / model_rel, fmt="onnx")
            text = triton.config_pbtxt(name, b_ins, b_outs, target=target, max_batch=batch, instances=instances,
                                       threads=threads, graph_optimization=graph_optimization)
            (staging / name / "config.pbtxt").write_text(text)
            (staging / name / "example_request.py").write_text(triton.V2_CLIENT.format(name=name, batched=batch > 0))
            cand_target = target if _available(target) else "onnxruntime:cpu"
            if cand_target != target:
                notes.append(f"{target} is not available here: the packaged model was validated on onnxruntime:cpu")
        else:
            device = mss.device_type(target)
            if max_batch:
                raise InputError("MindSpore Serving batches requests to the MindIR's own batch size; --max-batch "
                                 "applies to Triton packages", hint="re-export the MindIR with the batch you want")
            batch = 0
            model_rel = Path(name) / "1" / f"{name}.mindir"
            (staging / name / "1").mkdir(parents=True)
            if model.source_format == "mindir" and model.matches_source():
                shutil.copyfile(model.source_path, staging / model_rel)  # the file MindSpore wrote, byte for byte
            else:
                formats.save(model, staging / model_rel, fmt="mindir")
            with_batch = all(s.shape for s in ins + outs) and len({s.shape[0] for s in ins + outs}) == 1
            ids_in = mss.identifiers([s.name for s in ins])
            ids_out = mss.identifiers([s.name for s in outs])
            (staging / name / "servable_config.py").write_text(mss.servable_config(
                model_rel.name, ins, outs, with_batch_dim=with_batch, source=model.name))
            (staging / name / "serving_server.py").write_text(mss.server_script(name, device, instances))
            (staging / name / "serving_client.py").write_text(mss.client_script(
                name, ids_in, [s.name for s in ins], ids_out, [s.name for s in outs], with_batch))
            cand_target = "mindspore:cpu" if _available("mindspore:cpu") else "onnxruntime:cpu"
            if cand_target != "mindspore:cpu":
                notes.append("MindSpore is not installed: the packaged MindIR was read back by Deploy Studio "
                             "and validated on onnxruntime:cpu")
        job.report(0.4, "validating the package")
        packaged_model = formats.load(staging / model_rel)
        report, feeds, expected = _validate(model, packaged_model, ref_target, cand_target,
                                            batch=BATCH_CHECK if batch > 1 else 0)
        report["notes"] = notes
        _write_npz(staging / name / "validation_inputs.npz", feeds)
        _write_npz(staging / name / "validation_outputs.npz", expected)
        atomic_write_bytes(staging / name / "validation.json", json.dumps(report, indent=1, default=str).encode())
        from engine.serving.package_readme import readme

        (staging / name / "README.md").write_text(readme(fmt, name, target, model, ins, outs, batch, instances, report))
        job.report(0.95, "writing the package")
        out.mkdir(parents=True, exist_ok=True)
        files = _move_into(staging, out, overwrite, formats.input_files(model))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    job.report(1.0, f"wrote {folder}")
    return PackageResult(format=fmt, folder=folder, name=name, model_file=out / model_rel, files=files, max_batch=batch,
                         validation=report, notes=notes)


def _stem(model: Model) -> str:
    import re

    stem = model.source_path.stem if model.source_path else model.name
    return re.sub(r"[^A-Za-z0-9_.-]", "_", stem) or "model"


def _move_into(staging: Path, out: Path, overwrite: bool, inputs: list[Path]) -> list[Path]:
    """Move every staged entry into ``out`` (replacing same-named ones only when ``overwrite``); list the files.

    Every clash is checked before anything moves, and an input file is never replaced.
    """
    entries = sorted(staging.iterdir())
    sources = {p.resolve() for p in inputs}
    for entry in entries:
        dest = out / entry.name
        hit = [p for p in ([dest] if not dest.is_dir() else dest.rglob("*")) if p.resolve() in sources]
        if hit:
            raise OutputPathError("the package would replace the model it is made from; choose another -o",
                                  path=hit[0])
        if dest.exists() and not overwrite:
            raise OutputPathError("already exists", path=dest, hint="choose another -o, or --force")
    moved = []
    for entry in entries:
        dest = out / entry.name
        if dest.is_dir():
            shutil.rmtree(dest)
        elif dest.exists():
            dest.unlink()
        shutil.move(str(entry), str(dest))
        moved.extend(sorted(p for p in ([dest] if dest.is_file() else dest.rglob("*")) if p.is_file()))
    return moved

"""Write the MindSpore model-zoo corpus: each model's MindIR, an input and MindSpore's own output.

Usage: python scripts/make_zoo_corpus.py [OUT] [--models a,b] [--all] [--tiny] [--onnx] [--list] [--skip-existing]
(default OUT: corpora/zoo; --all adds zoo_nets.MINDCV_EXTRA; ``--tiny tests/data/zoo`` writes
the small models that make test converts; ``--onnx corpora/zoo_onnx`` writes MindSpore's own
ONNX export of each model instead of its MindIR, as model.onnx with the same input and
expected files, the layout ``benchmarks/torch_corpus.py`` reads: the ONNX -> MindIR half). Each model is built and
exported in its own child process, so one model that MindSpore cannot export (or that
crashes it) does not stop the run; its meta.json then records the error. Weights are random under a fixed seed
(``mindspore.set_seed(0)``, numpy seed 0): no pretrained download.

Per model, ``OUT/<name>/`` holds model.mindir, input_<i>.npy, expected_<k>.npy and
meta.json (name, family, source, input shapes, export seconds, MindSpore's first-call
seconds (compile + run), whether MindSpore could also export ONNX and its error if not).

Environment (not the project's .venv; MindSpore 2.10 wants numpy<2 for building networks)::

    python3.11 -m venv /work/venvs/zoo
    /work/venvs/zoo/bin/pip install mindspore==2.10.0 "numpy<2"
    /work/venvs/zoo/bin/pip install --no-deps mindcv==0.3.0 mindyolo==0.5.0
    /work/venvs/zoo/bin/pip install tqdm pyyaml "opencv-python-headless<4.11" "numpy<2"  # their imports;
    # a newer OpenCV pulls numpy 2, under which MindSpore 2.10 fails in Python-side ops (ConvNeXt)
    nice /work/venvs/zoo/bin/python scripts/make_zoo_corpus.py

Shims and departures: mindcv and mindyolo are installed with ``--no-deps`` (their pins
would pull other numpy/MindSpore builds); mindyolo's wheel ships no configs, so the four
YOLO layer tables are transcribed in scripts/zoo_nets.py; mindnlp 0.5.1 requires
``mindspore<=2.7.0`` plus transformers/torch-compat layers and does not import on 2.10, so
BERT-base and GPT-2 are re-implemented in scripts/zoo_nets.py after HF's structure with
``mindspore.mint`` ops (which is what mindnlp 0.5 runs); mindcv 0.3.0's ReXNet initializer
is shimmed (zoo_nets._shim_rexnet_init) to materialize tensors before reshaping them. Where
mindcv's own initializers leave a network's output below 1e-3 (0.01-std heads, zero-init
residual gammas), the weights are re-drawn with zoo_nets.randomize so the comparison means
something; meta.json says which.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

import zoo_nets  # noqa: E402


def catalogue(extra: bool = True, tiny: bool = False) -> dict[str, dict]:
    """Every model of the corpus: name -> {family, source, inputs (shape, dtype)}."""
    models: dict[str, dict] = {}
    if tiny:
        return {name: {"family": family, "source": "mindcv", "inputs": [([1, 3, size, size], "float32")]}
                for name, (family, _, size) in zoo_nets.TINY.items()}
    mindcv = dict(zoo_nets.MINDCV, **(zoo_nets.MINDCV_EXTRA if extra else {}))
    for name, (family, size) in mindcv.items():
        models[name] = {"family": family, "source": "mindcv", "inputs": [([1, 3, size, size], "float32")]}
    for name, (family, _, size) in zoo_nets.MINDYOLO.items():
        models[name] = {"family": family, "source": "mindyolo", "inputs": [([1, 3, size, size], "float32")]}
    for name, (family, seq) in zoo_nets.TRANSFORMERS.items():
        inputs = [([1, seq], "int32")]
        if name == "bert_base":
            inputs.append(([1, seq], "int32"))  # attention mask
        models[name] = {"family": family, "source": "transformer (HF structure)", "inputs": inputs}
    return models


def make_inputs(name: str, spec: list) -> list:
    import numpy as np

    rng = np.random.default_rng(0)
    arrays = []
    for k, (shape, dtype) in enumerate(spec):
        if dtype == "int32" and k == 0:
            arrays.append(rng.integers(0, 30000, size=shape, dtype=np.int32))
        elif dtype == "int32":
            mask = np.ones(shape, np.int32)
            mask[:, shape[1] * 3 // 4:] = 0  # padded tail, so the mask is exercised
            arrays.append(mask)
        else:
            arrays.append(rng.standard_normal(shape).astype(np.float32))
    return arrays


def build(name: str, source: str):
    if source == "mindcv":
        return zoo_nets.mindcv_net(name)
    if source == "mindyolo":
        return zoo_nets.mindyolo_net(name)
    return zoo_nets.transformer_nets()[name]()


def child(name: str, out: Path, onnx_only: bool = False) -> int:
    """Build, run and export one model (runs in its own process); ``onnx_only``: MindSpore's ONNX export."""
    import numpy as np

    import mindspore as ms

    ms.set_context(mode=ms.GRAPH_MODE, device_target="CPU")
    ms.set_seed(0)
    np.random.seed(0)
    info = {**catalogue(), **catalogue(tiny=True)}[name]
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    meta = {"name": name, "family": info["family"], "source": info["source"], "mindspore_version": ms.__version__}
    inputs = make_inputs(name, info["inputs"])
    meta["inputs"] = [{"file": f"input_{i}.npy", "shape": list(x.shape), "dtype": str(x.dtype)}
                      for i, x in enumerate(inputs)]
    try:
        net = build(name, info["source"])
        net.set_train(False)
        tensors = [ms.Tensor(x) for x in inputs]
        t = time.perf_counter()
        outputs = net(*tensors)  # one call only (2 shared cores): it includes graph compilation
        meta["mindspore_first_call_s"] = round(time.perf_counter() - t, 2)
        meta["weights"] = "random, the zoo's own initializers"
        scale = max(float(np.abs(y.asnumpy()).max()) for y in _flatten(outputs))
        if scale < 1e-3 and info["source"] == "mindcv":
            # mindcv's initializers (0.01-std heads, zero-init residual gammas) leave some
            # networks with outputs near 1e-9, which no tolerance can judge: re-draw them.
            zoo_nets.randomize(net)
            outputs = net(*tensors)
            meta["weights"] = f"random, zoo_nets.randomize (the zoo's initializers gave max|y| = {scale:.1e})"
        t = time.perf_counter()
        ms.export(net, *tensors, file_name=str(folder / "model"), file_format="ONNX" if onnx_only else "MINDIR")
        meta["export_seconds"] = round(time.perf_counter() - t, 2)
        if onnx_only:
            meta["exporter"] = f"mindspore {ms.__version__} export(file_format='ONNX')"
    except Exception as exc:  # MindSpore itself cannot build or export it: record why
        meta["error"] = f"{type(exc).__name__}: {_first_line(exc)}"
        (folder / "meta.json").write_text(json.dumps(meta, indent=2))
        return 1
    flat = _flatten(outputs)
    for i, x in enumerate(inputs):
        np.save(folder / f"input_{i}.npy", x)
    for k, y in enumerate(flat):
        np.save(folder / f"expected_{k}.npy", y.asnumpy())
    meta["outputs"] = [{"file": f"expected_{k}.npy", "shape": list(y.shape), "dtype": str(y.asnumpy().dtype)}
                       for k, y in enumerate(flat)]
    if onnx_only:
        (folder / "meta.json").write_text(json.dumps(meta, indent=2))
        return 0
    meta["mindir_bytes"] = (folder / "model.mindir").stat().st_size
    try:
        ms.export(net, *tensors, file_name=str(folder / "mindspore_export"), file_format="ONNX")
        meta["mindspore_onnx_export"] = True
        (folder / "mindspore_export.onnx").unlink(missing_ok=True)  # only whether it can matters
    except Exception as exc:
        meta["mindspore_onnx_export"] = False
        meta["mindspore_onnx_error"] = _first_line(exc)
    (folder / "meta.json").write_text(json.dumps(meta, indent=2))
    return 0


def _first_line(exc: Exception) -> str:
    """The first informative line of a MindSpore error (its messages open with rules of dashes)."""
    for line in str(exc).splitlines():
        line = line.strip()
        if line and not set(line) <= set("-=") and not line.startswith("- "):
            return line[:400]
    return type(exc).__name__


def _flatten(value) -> list:
    if isinstance(value, (tuple, list)):
        return [y for v in value for y in _flatten(v)]
    return [value]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, default=ROOT / "corpora" / "zoo")
    parser.add_argument("--models", help="comma-separated names (default: all)")
    parser.add_argument("--list", action="store_true", help="list the models and exit")
    parser.add_argument("--tiny", action="store_true", help="the small models for tests/data/zoo instead")
    parser.add_argument("--all", action="store_true", help="also the extra mindcv families (zoo_nets.MINDCV_EXTRA)")
    parser.add_argument("--onnx", action="store_true", help="MindSpore's own ONNX export (model.onnx) instead of MindIR")
    parser.add_argument("--skip-existing", action="store_true", help="keep models that already have a meta.json")
    parser.add_argument("--timeout", type=float, default=1200.0, help="seconds per model")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    models = catalogue(extra=args.all or bool(args.models), tiny=args.tiny)
    if args.child:
        return child(args.child, args.out, onnx_only=args.onnx)
    if args.list:
        for name, info in models.items():
            print(f"{name:24} {info['family']:14} {info['source']:26} {info['inputs']}")
        return 0
    names = args.models.split(",") if args.models else list(models)
    unknown = [n for n in names if n not in models]
    if unknown:
        print(f"unknown model(s): {', '.join(unknown)} (see --list)")
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    ok, tried = 0, 0
    for name in names:
        if args.skip_existing and (args.out / name / "meta.json").exists():
            continue
        tried += 1
        t = time.perf_counter()
        env = dict(os.environ, GLOG_v="3")
        try:
            command = [sys.executable, __file__, str(args.out), "--child", name] + (["--onnx"] if args.onnx else [])
            proc = subprocess.run(command, capture_output=True,
                                  text=True, timeout=args.timeout, env=env)
            code, tail = proc.returncode, (proc.stderr.strip().splitlines() or [""])[-1]
        except subprocess.TimeoutExpired:
            code, tail = -1, f"timed out after {args.timeout:.0f} s"
        meta_path = args.out / name / "meta.json"
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        if code and "error" not in meta:  # the child died before it could write its error
            meta.update(name=name, family=models[name]["family"], error=f"exit {code}: {tail[:300]}")
            meta_path.parent.mkdir(parents=True, exist_ok=True)
            meta_path.write_text(json.dumps(meta, indent=2))
        status = "ok" if "error" not in meta else f"MindSpore failed: {meta['error'][:200]}"
        ok += "error" not in meta
        onnx = "" if "error" in meta or args.onnx else (
            f", MindSpore ONNX export {'ok' if meta.get('mindspore_onnx_export') else 'fails'}")
        print(f"{name:24} {time.perf_counter() - t:6.1f} s  {status}{onnx}", flush=True)
    print(f"{ok}/{tried} models exported to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

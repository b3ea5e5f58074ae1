"""ONNX's own backend node tests through ONNX -> MindIR -> MindSpore 2.x: counts per outcome and per op.

Usage::

    python benchmarks/onnx_suite.py [--ops Conv,Gemm] [--limit N] [--json out.json] [--no-roundtrip]

The node tests are written once into ``corpora/onnx_node/<test>/`` (model.onnx and
test_data_set_0/, the layout ONNX used to ship) from ``onnx.backend.test``'s own cases.
(float16 and bfloat16 outputs get a relative tolerance of two steps of their type, 2**-9 and 2**-6: 1e-3 is below
their resolution.)
For each test: ONNX Runtime's pass/fail against the expected outputs (the reference
count), conversion with our MindIR writer, a run in MindSpore (in a worker process that
is restarted when it dies or hangs), and a comparison (floats ``allclose(rtol=1e-3,
atol=1e-5)``, ints and bools exact, shapes and dtypes too). Each converted MindIR is also
read back by our MindIR reader and run in ONNX Runtime (the round trip; tests with bfloat16
data run in ``onnx.reference`` instead, since ONNX Runtime's Python API takes no bfloat16).

Outcomes: match, wrong (MindSpore ran and the answer differs), ms-fail (MindSpore cannot
load or run what we wrote), refused (a typed engine error), crash (any other exception),
timeout. ``tests/engine/test_onnx_node_suite.py`` runs a fixed sample with the same code.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpora" / "onnx_node"
OUTCOMES = ("match", "wrong", "ms-fail", "refused", "crash", "timeout")


# ---------------------------------------------------------------- corpus


def generate(dest: Path = CORPUS) -> int:
    """Write every ONNX node test case as model.onnx + test_data_set_0 under ``dest``."""
    import warnings

    import onnx
    from onnx import numpy_helper
    from onnx.backend.test.loader import load_model_tests

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = load_model_tests(kind="node")
    count = 0
    for case in cases:
        folder = dest / case.name
        data = folder / "test_data_set_0"
        data.mkdir(parents=True, exist_ok=True)
        (folder / "model.onnx").write_bytes(case.model.SerializeToString())
        inputs, outputs = case.data_sets[0]
        for prefix, values, infos in (("input", inputs, case.model.graph.input), ("output", outputs, case.model.graph.output)):
            for j, (value, info) in enumerate(zip(values, infos)):
                if info.type.HasField("sequence_type"):
                    proto = numpy_helper.from_list(value, info.name)
                elif info.type.HasField("optional_type"):
                    proto = numpy_helper.from_optional(value, info.name)
                elif isinstance(value, onnx.TensorProto):
                    proto = value
                else:
                    proto = numpy_helper.from_array(np.asarray(value), info.name)
                (data / f"{prefix}_{j}.pb").write_bytes(proto.SerializeToString())
        (folder / "data.json").write_text(json.dumps({"rtol": case.rtol, "atol": case.atol}))
        count += 1
    return count


def read_case(folder: Path):
    """(model, inputs, expected, rtol, atol) of one test folder; non-tensor values stay ONNX-native lists."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(folder / "model.onnx")

    def read(prefix: str, infos) -> list:
        values = []
        for j, info in enumerate(infos):
            raw = (folder / "test_data_set_0" / f"{prefix}_{j}.pb").read_bytes()
            if info.type.HasField("sequence_type"):
                proto = onnx.SequenceProto()
                proto.ParseFromString(raw)
                values.append(numpy_helper.to_list(proto))
            elif info.type.HasField("optional_type"):
                proto = onnx.OptionalProto()
                proto.ParseFromString(raw)
                values.append(numpy_helper.to_optional(proto))
            else:
                proto = onnx.TensorProto()
                proto.ParseFromString(raw)
                values.append(numpy_helper.to_array(proto))
        return values

    tol = json.loads((folder / "data.json").read_text()) if (folder / "data.json").exists() else {}
    return model, read("input", model.graph.input), read("output", model.graph.output), tol.get("rtol", 1e-3), tol.get("atol", 1e-7)


def primary_op(name: str, model) -> str:
    """The op a node test is about: the op type whose name the test name starts with."""
    key = name.removeprefix("test_").replace("_", "").lower()
    ops = sorted({n.op_type for n in model.graph.node}, key=len, reverse=True)
    for op in ops:
        if key.startswith(op.lower()):
            return op
    return model.graph.node[0].op_type if model.graph.node else "(none)"


# ---------------------------------------------------------------- comparison


def compare(actual: list, expected: list, rtol: float = 1e-3, atol: float = 1e-5) -> str | None:
    """None when ``actual`` matches ``expected`` (dtype, shape, values); else why not, in one line."""
    if len(actual) != len(expected):
        return f"{len(actual)} outputs, expected {len(expected)}"
    for k, (a, e) in enumerate(zip(actual, expected)):
        if isinstance(e, list) or e is None or isinstance(a, list):
            return f"output {k} is not a tensor"
        a, e = np.asarray(a), np.asarray(e)
        bf16 = a.dtype.name == e.dtype.name == "bfloat16"  # MindSpore may hand back its own bfloat16 type
        if bf16:
            a, e = a.astype(np.float32), e.astype(np.float32)
        if a.dtype != e.dtype:
            return f"output {k}: dtype {a.dtype}, expected {e.dtype}"
        if a.shape != e.shape:
            return f"output {k}: shape {a.shape}, expected {e.shape}"
        if e.dtype.kind in "fc":
            # rtol 1e-3 is finer than float16's own step (2**-10 relative): a chain of float16 ops
            # rounds differently per backend (ONNX Runtime is itself 2 steps off on attention_4d_causal_fp16)
            tol = max(rtol, 2.0**-9) if e.dtype == np.float16 else max(rtol, 2.0**-6) if bf16 else rtol
            if not np.allclose(a, e, rtol=tol, atol=atol, equal_nan=True):
                diff = np.abs(a.astype(np.float64) - e.astype(np.float64))
                return f"output {k}: max abs diff {float(np.nanmax(diff)) if diff.size else 0:.3g}"
        elif e.dtype.kind in "OUS":
            if not np.array_equal(a, e):
                return f"output {k}: strings differ"
        elif not np.array_equal(a, e):
            return f"output {k}: values differ"
    return None


def run_reference(model, inputs: list) -> list:
    """``model`` run by ``onnx.reference`` (bfloat16 arrays in and out, through ml_dtypes)."""
    from onnx.reference import ReferenceEvaluator

    feeds = {i.name: x for i, x in zip(model.graph.input, inputs)}
    return ReferenceEvaluator(model).run(None, feeds)


def run_ort(model_bytes: bytes, model, inputs: list) -> list:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    feeds = {i.name: v for i, v in zip(model.graph.input, inputs)}
    return session.run(None, feeds)


def ort_passes(model, inputs: list, expected: list, rtol: float, atol: float) -> bool:
    """ONNX Runtime's own result on the test, judged as ONNX's backend runner does (its rtol/atol)."""
    try:
        outs = run_ort(model.SerializeToString(), model, inputs)
    except Exception:
        return False
    if len(outs) != len(expected):
        return False
    for a, e in zip(outs, expected):
        if isinstance(e, list) or e is None:
            continue  # sequences / optionals: ORT ran; we never convert them anyway
        a, e = np.asarray(a), np.asarray(e)
        if a.dtype != e.dtype or a.shape != e.shape:
            return False
        if e.dtype.kind in "fc":
            if not np.allclose(a, e, rtol=rtol, atol=atol, equal_nan=True):
                return False
        elif not np.array_equal(a, e):
            return False
    return True


# ---------------------------------------------------------------- MindSpore worker


def _send(stream, obj) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(struct.pack("<Q", len(data)) + data)
    stream.flush()


def _recv(stream):
    head = stream.read(8)
    if len(head) < 8:
        raise EOFError("worker closed its pipe")
    (size,) = struct.unpack("<Q", head)
    return pickle.loads(stream.read(size))


def _worker_main() -> None:
    """Child: read (mindir path, inputs) requests, answer ("ok", outputs) or ("error", line)."""
    proto_out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # MindSpore's own prints stay off the protocol
    proto_in = sys.stdin.buffer
    import mindspore as ms

    ms.set_context(mode=ms.GRAPH_MODE)
    ms.set_device("CPU")
    _send(proto_out, ("ready", ms.__version__))
    while True:
        try:
            path, arrays = _recv(proto_in)
        except EOFError:
            return
        try:
            net = ms.nn.GraphCell(ms.load(path))
            outs = net(*[ms.Tensor(a) for a in arrays])
            flat = []

            def walk(o):
                if isinstance(o, (tuple, list)):
                    for x in o:
                        walk(x)
                else:
                    flat.append(o.asnumpy() if hasattr(o, "asnumpy") else np.asarray(o))

            walk(outs)
            _send(proto_out, ("ok", flat))
        except Exception as exc:  # MindSpore's RuntimeError/TypeError/ValueError: reported, worker stays up
            lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip() and not set(ln.strip()) <= set("-=")]
            _send(proto_out, ("error", f"{type(exc).__name__}: {lines[0][:300] if lines else ''}"))


class MindSporeRunner:
    """One MindSpore child process, restarted after it dies or exceeds the per-test timeout."""

    def __init__(self, timeout_s: float = 60.0) -> None:
        self.timeout_s = timeout_s
        self.proc: subprocess.Popen | None = None
        self.restarts = 0

    def _start(self) -> None:
        env = dict(os.environ, GLOG_v="3", OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--worker"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        kind, _ = self._read(300.0)
        if kind != "ready":
            raise RuntimeError("MindSpore worker did not start")

    def _read(self, timeout: float):
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            raise TimeoutError
        return _recv(self.proc.stdout)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            for stream in (self.proc.stdin, self.proc.stdout):
                try:
                    stream.close()
                except OSError:  # a dead worker's pipe
                    pass
            self.proc = None

    def run(self, path: str, arrays: list) -> tuple[str, object]:
        """("ok", outputs) | ("error", message) | ("timeout", message) | ("died", message)."""
        if self.proc is None:
            self._start()
        try:
            _send(self.proc.stdin, (path, arrays))
            return self._read(self.timeout_s)
        except TimeoutError:
            self.stop()
            self.restarts += 1
            return "timeout", f"no answer in {self.timeout_s:.0f} s"
        except (EOFError, BrokenPipeError, OSError):
            code = self.proc.poll() if self.proc else None
            self.stop()
            self.restarts += 1
            return "died", f"MindSpore worker died (exit {code})"


# ---------------------------------------------------------------- one test


@dataclass
class Result:
    name: str
    op: str
    ort_pass: bool
    outcome: str
    detail: str = ""
    roundtrip: str = ""  # "", "match", "wrong", "refused", "crash"
    roundtrip_detail: str = ""
    seconds: dict = field(default_factory=dict)


class _Alarm(Exception):
    pass


def _on_alarm(signum, frame):
    raise _Alarm


def run_case(folder: Path, runner: MindSporeRunner, work: Path, *, roundtrip: bool = True, timeout_s: int = 60) -> Result:
    """Convert one node test to MindIR, run it in MindSpore, compare; then the round trip."""
    from engine import formats
    from engine.convert import convert
    from engine.errors import EngineError

    model, inputs, expected, rtol, atol = read_case(folder)
    result = Result(folder.name, primary_op(folder.name, model), ort_passes(model, inputs, expected, rtol, atol), "")
    out = work / f"{folder.name}.mindir"
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(timeout_s)
    t0 = time.perf_counter()
    try:
        convert(folder / "model.onnx", out)
    except EngineError as exc:
        internal = isinstance(exc.__cause__, (ValueError, TypeError, KeyError, IndexError, ZeroDivisionError, OverflowError, AttributeError))
        result.outcome = "crash" if internal else "refused"
        result.detail = str(exc).replace(str(folder), "<test>")
    except _Alarm:
        result.outcome, result.detail = "timeout", f"conversion took over {timeout_s} s"
    except Exception as exc:  # untyped: a crash of ours
        result.outcome, result.detail = "crash", f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    result.seconds["convert"] = round(time.perf_counter() - t0, 4)
    if result.outcome:
        return result
    t0 = time.perf_counter()
    kind, value = runner.run(str(out), [np.asarray(x) for x in inputs])
    result.seconds["mindspore"] = round(time.perf_counter() - t0, 4)
    if kind == "ok":
        why = compare(value, expected)
        result.outcome, result.detail = ("match", "") if why is None else ("wrong", why)
    elif kind == "timeout":
        result.outcome, result.detail = "timeout", str(value)
    else:
        result.outcome, result.detail = "ms-fail", str(value)
    bf16 = any(getattr(np.asarray(v).dtype, "name", "") == "bfloat16" for v in list(inputs) + list(expected)
               if not isinstance(v, list) and v is not None)
    if roundtrip:
        try:
            back = formats.load(out)
            if back.onnx is None:  # the file opens, but our lowering stops at a primitive it lacks
                first = back.unlowered[0] if back.unlowered else None
                raise EngineError(f"MindIR reader cannot lower {first}")
            if bf16:  # ONNX Runtime's Python API takes and gives no bfloat16 arrays: ONNX's reference runs it
                outs = run_reference(back.onnx, inputs)
            else:
                outs = run_ort(back.onnx.SerializeToString(), back.onnx, inputs)
            why = compare(outs, expected)
            result.roundtrip, result.roundtrip_detail = ("match", "") if why is None else ("wrong", why)
        except EngineError as exc:
            result.roundtrip, result.roundtrip_detail = "refused", str(exc).replace(str(work), "<out>")[:300]
        except Exception as exc:  # ORT failing on what we lowered counts here too
            result.roundtrip, result.roundtrip_detail = "crash", f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
    out.unlink(missing_ok=True)
    return result


# ---------------------------------------------------------------- report


def summarize(results: list[Result]) -> str:
    lines = []
    total = collections.Counter(r.outcome for r in results)
    ort = [r for r in results if r.ort_pass]
    in_ort = collections.Counter(r.outcome for r in ort)
    lines.append(f"{len(results)} node tests; ONNX Runtime passes {len(ort)}")
    lines.append(f"{'outcome':<10}{'all':>7}{'ORT-pass':>10}")
    for o in OUTCOMES:
        lines.append(f"{o:<10}{total[o]:>7}{in_ort[o]:>10}")
    rt = collections.Counter(r.roundtrip for r in results if r.roundtrip)
    if rt:
        lines.append("round trip (converted MindIR -> our reader -> ONNX Runtime): "
                     + ", ".join(f"{k} {v}" for k, v in sorted(rt.items())))
    lines.append(f"SUMMARY match {in_ort['match']}/{len(ort)} ORT-passing (all tests: " +
                 ", ".join(f"{o} {total[o]}" for o in OUTCOMES) + ")")
    by_op = collections.defaultdict(collections.Counter)
    for r in results:
        by_op[r.op][r.outcome] += 1
    lines.append("")
    lines.append(f"{'op':<32}" + "".join(f"{o:>9}" for o in OUTCOMES))
    for op in sorted(by_op):
        lines.append(f"{op:<32}" + "".join(f"{by_op[op][o] or '':>9}" for o in OUTCOMES))
    return "\n".join(lines)


def select_tests(ops: list[str] | None, names: list[str] | None, limit: int | None, corpus: Path = CORPUS) -> list[Path]:
    import onnx

    folders = sorted(p for p in corpus.iterdir() if (p / "model.onnx").exists())
    if names:
        wanted = set(names)
        folders = [f for f in folders if f.name in wanted or f.name.removeprefix("test_") in wanted]
    if ops:
        wanted_ops = set(ops)
        folders = [f for f in folders if wanted_ops & {n.op_type for n in onnx.load(f / "model.onnx").graph.node}]
    return folders[:limit] if limit else folders


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", help="only tests whose graph uses one of these op types (comma-separated)")
    parser.add_argument("--tests", help="only these tests (comma-separated names)")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--json", help="write per-test results here")
    parser.add_argument("--no-roundtrip", action="store_true")
    parser.add_argument("--regenerate", action="store_true", help="rewrite corpora/onnx_node from onnx's cases")
    parser.add_argument("--timeout", type=int, default=60, help="seconds per test and stage")
    parser.add_argument("--show", default="wrong,crash,ms-fail,timeout", help="outcomes whose details are listed")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    if args.regenerate or not CORPUS.exists():
        print(f"writing ONNX node tests into {CORPUS} ...", flush=True)
        print(f"{generate(CORPUS)} tests written", flush=True)
    try:
        import mindspore  # noqa: F401
    except ImportError:
        print("MindSpore is not installed: skipping the ONNX node suite")
        return 0
    folders = select_tests(args.ops.split(",") if args.ops else None, args.tests.split(",") if args.tests else None, args.limit)
    runner = MindSporeRunner(timeout_s=args.timeout)
    results: list[Result] = []
    start = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="onnx_suite_") as tmp:
            for i, folder in enumerate(folders):
                results.append(run_case(folder, runner, Path(tmp), roundtrip=not args.no_roundtrip, timeout_s=args.timeout))
                if (i + 1) % 100 == 0:
                    print(f"  {i + 1}/{len(folders)} in {time.perf_counter() - start:.0f} s", flush=True)
    finally:
        runner.stop()
    show = set(args.show.split(","))
    for r in results:
        if r.outcome in show:
            print(f"{r.outcome:<8} {r.name}: {r.detail}")
        if r.roundtrip and r.roundtrip != "match" and "roundtrip" not in show:
            print(f"rt-{r.roundtrip:<5} {r.name}: {r.roundtrip_detail}")
    print(summarize(results))
    print(f"{time.perf_counter() - start:.0f} s, MindSpore worker restarts: {runner.restarts}")
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in results], indent=1))
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--worker"]:
        _worker_main()
    else:
        sys.exit(main())

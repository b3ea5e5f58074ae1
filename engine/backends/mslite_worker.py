"""The MindSpore Lite worker: runs in the Lite venv's Python 3.7, with only the stdlib, numpy and mindspore_lite.

It must stay importable by Python 3.7 and must not import ``engine`` (the Lite venv has
neither the engine nor its dependencies). Two uses:

- ``python mslite_worker.py convert SRC.onnx OUT_PREFIX [--fp16] [--config CFG] [--nhwc]``:
  Lite's converter, ONNX -> ``OUT_PREFIX.ms``, NCHW inputs kept unless ``--nhwc`` (Lite's default).
- ``python mslite_worker.py serve MODEL.ms THREADS``: messages over stdin/stdout, each a
  4-byte little-endian length then a pickle (protocol 4) of a tuple; arrays travel as
  ``(dtype_str, shape, bytes)`` so that neither side depends on the other's numpy pickles.
  worker -> parent once: ``("ready", info)`` or ``("error", message)``;
  ``("infer", arrays)`` -> ``("ok", arrays)``; ``("bench", arrays, iterations, duration_s)``
  -> ``("lat", ns)`` per run then ``("done",)`` (a ``("stop",)`` meanwhile ends the loop);
  ``("close",)`` ends the worker.
"""

from __future__ import annotations

import os
import pickle
import select
import struct
import sys
import time
import traceback


def _pack(arr):
    return (arr.dtype.str, tuple(arr.shape), arr.tobytes())


def _unpack(item):
    import numpy as np

    dtype, shape, data = item
    return np.frombuffer(data, dtype=np.dtype(dtype)).reshape(shape).copy()


def _send(out, msg):
    data = pickle.dumps(msg, protocol=4)
    out.write(struct.pack("<I", len(data)) + data)
    out.flush()


def _recv(inp):
    head = inp.read(4)
    if len(head) < 4:
        return None
    (size,) = struct.unpack("<I", head)
    return pickle.loads(inp.read(size))


def _first_line(exc):
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:400]


def convert(src, prefix, fp16=False, config="", nhwc=False):
    """Lite's converter: ONNX file -> ``prefix.ms``."""
    import mindspore_lite as mslite

    conv = mslite.Converter()
    conv.save_type = mslite.ModelType.MINDIR_LITE
    conv.input_format = mslite.Format.NHWC if nhwc else mslite.Format.NCHW
    if fp16:
        conv.weight_fp16 = True
    conv.convert(mslite.FmkType.ONNX, src, prefix, config_file=config)
    if not os.path.isfile(prefix + ".ms"):
        raise RuntimeError("Lite's converter wrote no file")


def serve(path, threads):
    """Load ``path`` on Lite's CPU runtime and answer requests until closed."""
    inp = sys.stdin.buffer
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")  # the pipe to the parent, on its own descriptor
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # Lite's own prints must not corrupt the pipe
    sys.stdout = sys.stderr
    try:
        t0 = time.perf_counter()
        import numpy as np
        import mindspore_lite as mslite

        import_ms = (time.perf_counter() - t0) * 1e3
        context = mslite.Context()
        context.target = ["cpu"]
        if threads:
            context.cpu.thread_num = int(threads)
        t1 = time.perf_counter()
        model = mslite.Model()
        model.build_from_file(path, mslite.ModelType.MINDIR_LITE, context)
        load_ms = (time.perf_counter() - t1) * 1e3
        inputs = model.get_inputs()
        info = {"version": getattr(mslite, "__version__", "?"), "import_ms": import_ms, "load_ms": load_ms,
                "inputs": [(t.name, list(t.shape)) for t in inputs], "pid": os.getpid()}
    except BaseException as exc:  # any failure to load goes back as one line
        _send(out, ("error", "{}: {}".format(type(exc).__name__, _first_line(exc))))
        return
    _send(out, ("ready", info))

    def run(arrays):
        for tensor, arr in zip(inputs, arrays):
            tensor.set_data_from_numpy(np.ascontiguousarray(arr))
        return [o.get_data_to_numpy() for o in model.predict(inputs)]

    while True:
        msg = _recv(inp)
        if msg is None or msg[0] == "close":
            return
        if msg[0] == "stop":  # a stop that arrived after its bench loop had ended
            continue
        try:
            if msg[0] == "infer":
                _send(out, ("ok", [_pack(a) for a in run([_unpack(a) for a in msg[1]])]))
            elif msg[0] == "bench":
                arrays, iterations, duration_s = [_unpack(a) for a in msg[1]], msg[2], msg[3]
                clock = time.perf_counter_ns
                deadline = None if duration_s is None else clock() + int(duration_s * 1e9)
                count = 0
                while (iterations is None or count < iterations) and (deadline is None or clock() < deadline):
                    start = clock()
                    run(arrays)
                    _send(out, ("lat", clock() - start))
                    count += 1
                    if select.select([inp], [], [], 0)[0]:
                        stop = _recv(inp)
                        if stop is None or stop[0] in ("stop", "close"):
                            break
                _send(out, ("done",))
            else:
                _send(out, ("error", "unknown request {!r}".format(msg[0])))
        except Exception as exc:  # an inference failure is reported; the worker stays up
            sys.stderr.write(traceback.format_exc())
            _send(out, ("error", "{}: {}".format(type(exc).__name__, _first_line(exc))))


def main(argv):
    if len(argv) >= 3 and argv[0] == "convert":
        fp16 = "--fp16" in argv
        config = argv[argv.index("--config") + 1] if "--config" in argv else ""
        try:
            convert(argv[1], argv[2], fp16=fp16, config=config, nhwc="--nhwc" in argv)
        except Exception as exc:
            sys.stderr.write("dstudio-mslite: {}: {}\n".format(type(exc).__name__, _first_line(exc)))
            return 1
        return 0
    if len(argv) >= 2 and argv[0] == "serve":
        serve(argv[1], int(argv[2]) if len(argv) > 2 and argv[2] != "0" else 0)
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

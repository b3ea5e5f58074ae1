"""``dstudio serve MODEL``: a local Open Inference Protocol (V2) endpoint over HTTP."""

from __future__ import annotations

import argparse
import sys

EPILOG = """\
examples:
  dstudio serve model.mindir                        # http://127.0.0.1:8000, onnxruntime:cpu
  dstudio serve model.mindir -t mindspore:cpu --port 8001 --workers 2
  dstudio serve model.onnx --port 0                 # a free port; the URL is printed

  curl localhost:8000/v2/health/ready
  curl localhost:8000/v2/models/model
  curl -X POST localhost:8000/v2/models/model/infer -d \\
    '{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}'

Tensors travel as JSON lists or, with Triton's binary extension (Inference-Header-Content-Length),
as raw bytes. Bad requests get {"error": "..."} with status 400 (shape, dtype, JSON),
404 (unknown model) or 413 (body over --max-body-mb). Ctrl-C or SIGTERM stops it cleanly.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "serve",
        help="serve a model over HTTP with the Open Inference Protocol (V2)",
        description="Serve MODEL on a local HTTP endpoint speaking the Open Inference Protocol (V2, as KServe "
        "and Triton do), running it on a target. Prints the URL once it listens.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", help="model file (.onnx, .mindir)")
    p.add_argument("--target", "-t", default="onnxruntime:cpu", help="target (default onnxruntime:cpu; see dstudio targets)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1, loopback only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="model instances, each running one request at a time (default 1)")
    p.add_argument("--threads", type=int, metavar="N", help="intra-op threads per instance (default: the runtime's)")
    p.add_argument("--name", help="model name in the URL (default: the file name without suffix)")
    p.add_argument("--max-body-mb", type=float, default=64.0, metavar="MB",
                   help="largest request body accepted (default 64 MB); larger ones get 413")
    p.add_argument("--spin-wait", action="store_true",
                   help="let ONNX Runtime's idle threads spin between kernels (off by default here: spinning threads "
                   "take the cores the server needs to read and answer requests)")
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                   help="target environment knob, e.g. ONEDNN_MAX_CPU_ISA=AVX2 for MindSpore (repeatable)")
    p.set_defaults(func=run)


def default_name(path: str) -> str:
    """``resnet18/model.mindir`` -> ``model``; characters outside [A-Za-z0-9_.-] become ``_``."""
    import re
    from pathlib import Path

    return re.sub(r"[^A-Za-z0-9_.-]", "_", Path(path).stem) or "model"


def run(args: argparse.Namespace) -> int:
    from engine import formats
    from engine.backends import TargetOptions
    from engine.cli import UsageError
    from engine.cli.cmd_bench import _env
    from engine.serving import server

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be 0-65535, not {args.port}")
    if args.workers < 1:
        raise UsageError(f"--workers must be at least 1, not {args.workers}")
    if not args.max_body_mb > 0:
        raise UsageError(f"--max-body-mb must be positive, not {args.max_body_mb}")
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        from engine.errors import TargetError

        raise TargetError("dstudio serve needs the serve extra: pip install 'deploy-studio[serve]'") from None
    name = args.name or default_name(args.model)
    options = TargetOptions(threads=args.threads, env=_env(args.env), spin_wait=args.spin_wait)
    sock = server.bind(args.host, args.port)
    try:
        model = formats.load(args.model)
        served = server.open_model(model, name, args.target, workers=args.workers, options=options)
    except BaseException:
        sock.close()
        raise

    def started(url: str) -> None:
        print(f"serving {name} ({served.target}, {args.workers} instance{'s' if args.workers > 1 else ''}) "
              f"at {url}/v2/models/{name}", flush=True)

    server.serve({name: served}, sock, max_body=int(args.max_body_mb * 1024 * 1024), on_started=started)
    print("stopped", file=sys.stderr, flush=True)
    return 0

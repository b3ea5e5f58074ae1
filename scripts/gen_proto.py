"""Regenerate engine/formats/_proto/*_pb2.py from proto/*.proto with grpcio-tools' protoc.

Usage: python scripts/gen_proto.py [--check]

With --check, generate into a temporary folder and exit 1 if the committed modules differ.
"""

from __future__ import annotations

import argparse
import filecmp
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"
OUT_DIR = ROOT / "engine" / "formats" / "_proto"
PROTOS = ("dstudio_mind_ir.proto", "dstudio_checkpoint.proto")


def generate(out_dir: Path) -> list[Path]:
    """Run protoc on every schema in PROTOS, writing the Python modules into out_dir."""
    from grpc_tools import protoc  # dev-only dependency

    out_dir.mkdir(parents=True, exist_ok=True)
    args = ["protoc", f"-I{PROTO_DIR}", f"--python_out={out_dir}", *PROTOS]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    return [out_dir / (Path(p).stem + "_pb2.py") for p in PROTOS]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if regeneration would change files")
    args = parser.parse_args(argv)
    if not args.check:
        for path in generate(OUT_DIR):
            print(f"wrote {path.relative_to(ROOT)}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        stale = [p.name for p in generate(Path(tmp)) if not filecmp.cmp(p, OUT_DIR / p.name, shallow=False)]
    if stale:
        print("out of date: " + ", ".join(stale) + " (run python scripts/gen_proto.py)", file=sys.stderr)
        return 1
    print("generated protobuf modules are up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Write tests/data/mindir_unknown/: lenet5's MindIR with primitives renamed to ones nobody knows.

Usage: python scripts/make_unknown_mindir.py

Conv2D becomes Conv2DNobodyKnows (two nodes) and Flatten becomes FlattenNobodyKnows (one
node, downstream of the convolutions), edited with the project's MindIR protobuf module.
MindSpore itself still runs the file only if it knows the primitive, so the input and
MindSpore's output are lenet5's own (the mindspore:cpu test runs the untouched lenet5
through the same path). The file tests that a MindIR always opens, that every unknown
primitive is listed, and that conversion refuses in one line.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.formats._proto import dstudio_mind_ir_pb2 as pb  # noqa: E402

RENAMES = {"Conv2D": "Conv2DNobodyKnows", "Flatten": "FlattenNobodyKnows"}


def main() -> int:
    src = ROOT / "tests/data/mindspore/lenet5"
    out = ROOT / "tests/data/mindir_unknown/lenet5_renamed"
    out.mkdir(parents=True, exist_ok=True)
    model = pb.ModelProto()
    model.ParseFromString((src / "model.mindir").read_bytes())
    for prim in model.primitives:
        if prim.op_type in RENAMES:
            prim.op_type = RENAMES[prim.op_type]
    (out / "model.mindir").write_bytes(model.SerializeToString())
    for name in ("input_0.npy", "expected_0.npy"):
        shutil.copy(src / name, out / name)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Write tests/data/mslite/: lenet5 as MindSpore Lite's converter writes it (fp32 and 8-bit weights).

Usage::

    .venv/bin/python scripts/make_ms_fixture.py

Needs the Lite environment (``dstudio targets --setup mindspore-lite``, Python 3.7). The
source is tests/data/mindspore/lenet5/model.onnx (MindSpore's own ONNX export of lenet5).
``lenet5.ms`` is what Lite's converter writes with its defaults (NHWC input: 9 nodes);
``lenet5_int8.ms`` is Lite's 8-bit weight quantization of every weight, MatMul included
(NCHW input kept, so one more Transpose; per-channel quant params). Lite 2.0's own runtime
cannot load those MatMul weights, which is why ``dstudio convert --precision int8`` keeps
MatMul/Gemm weights float; the file tests the reader's quant params and that refusal.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.backends import mslite_env  # noqa: E402


def main() -> int:
    reason = mslite_env.unavailable_reason()
    if reason:
        print(f"skipped: {reason}")
        return 0
    src = ROOT / "tests/data/mindspore/lenet5/model.onnx"
    out = ROOT / "tests/data/mslite"
    out.mkdir(parents=True, exist_ok=True)
    for name, precision, nhwc in (("lenet5.ms", "fp32", True), ("lenet5_int8.ms", "int8", False)):
        path, _ = mslite_env.convert_onnx(src.read_bytes(), precision=precision, use_cache=False, nhwc=nhwc)
        shutil.copyfile(path, out / name)
        print(f"wrote {out / name} ({(out / name).stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

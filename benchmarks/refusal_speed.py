"""How long a large, damaged parameter file takes to be refused, and how long a sound one takes to open.

Builds (once, under corpora/refusal/) a 256 MiB .npz and .safetensors of float32 tensors,
then damaged copies: a member whose npy header claims 2^40 elements, a header whose
shape or offsets lie, a truncated file. Each is opened through ``formats.load`` in a
fresh process (so the timing includes nothing cached) and the wall time printed. The
issue this answers: such files took 5-12 s to refuse before the size checks.

Usage: ``nice .venv/bin/python benchmarks/refusal_speed.py [--mib 256]``
"""

from __future__ import annotations

import argparse
import json
import struct
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "corpora" / "refusal"


def build(mib: int) -> dict[str, Path]:
    FOLDER.mkdir(parents=True, exist_ok=True)
    sound_npz, sound_st = FOLDER / f"sound_{mib}.npz", FOLDER / f"sound_{mib}.safetensors"
    if not sound_npz.exists() or not sound_st.exists():
        rng = np.random.default_rng(0)
        arrays = {f"layer{i}.weight": rng.standard_normal((1024, 1024), dtype=np.float32) for i in range(mib // 4)}
        np.savez(sound_npz, **arrays)
        from safetensors.numpy import save_file

        save_file(arrays, str(sound_st))
    cases = {"npz ok": sound_npz, "safetensors ok": sound_st}

    # npz: the last member's npy header claims 2^40 elements.
    bad = FOLDER / f"huge_header_{mib}.npz"
    if not bad.exists():
        with zipfile.ZipFile(sound_npz) as src, zipfile.ZipFile(bad, "w", zipfile.ZIP_STORED) as dst:
            infos = src.infolist()
            for info in infos:
                body = src.read(info)
                if info is infos[-1]:
                    text = "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776,), }"
                    text += " " * (64 - (10 + len(text) + 1) % 64) + "\n"
                    body = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode() + body[128:]
                dst.writestr(info.filename, body)
    cases["npz member claims 2^40 elements"] = bad
    cut = FOLDER / f"truncated_{mib}.npz"
    if not cut.exists():
        cut.write_bytes(sound_npz.read_bytes()[: sound_npz.stat().st_size * 2 // 3])
    cases["npz truncated"] = cut

    # safetensors: the last tensor's shape is enormous; and a truncated copy.
    raw = sound_st.read_bytes()
    size = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + size])
    last = [k for k in header if k != "__metadata__"][-1]
    for label, edit in (("shape [2^40]", {"shape": [2**40]}), ("offsets past the end", {"data_offsets": [0, 2**40]})):
        path = FOLDER / f"st_{label.split()[0]}_{mib}.safetensors"
        if not path.exists():
            changed = dict(header)
            changed[last] = {**header[last], **edit}
            text = json.dumps(changed).encode()
            path.write_bytes(len(text).to_bytes(8, "little") + text + raw[8 + size:])
        cases[f"safetensors {label}"] = path
    st_cut = FOLDER / f"st_truncated_{mib}.safetensors"
    if not st_cut.exists():
        st_cut.write_bytes(raw[: len(raw) * 2 // 3])
    cases["safetensors truncated"] = st_cut
    return cases


def timed_load(path: Path) -> tuple[float, str]:
    code = ("import sys, time\nfrom engine import formats\nfrom engine.errors import EngineError\n"
            "t = time.perf_counter()\n"
            "try:\n    formats.load(sys.argv[1]); r = 'opened'\n"
            "except EngineError as e:\n    r = 'refused: ' + str(e).split(': ', 1)[-1][:90]\n"
            "print(f'{time.perf_counter() - t:.3f}\\t{r}')")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, cwd=ROOT)
    seconds, _, result = out.stdout.strip().partition("\t")
    return float(seconds or "nan"), result or out.stderr.strip().splitlines()[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=256, help="size of the sound files")
    args = parser.parse_args()
    start = time.perf_counter()
    cases = build(args.mib)
    print(f"files ready in {time.perf_counter() - start:.1f} s ({args.mib} MiB each, {FOLDER})")
    for label, path in cases.items():
        seconds, result = timed_load(path)
        print(f"{label:<40} {path.stat().st_size / 2**20:8.1f} MiB  {seconds:7.3f} s  {result}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

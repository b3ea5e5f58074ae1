"""Regenerate mixed.ckpt (written by MindSpore itself) and mixed_expected.npz beside it.

Run with MindSpore installed: ``.venv/bin/python tests/data/params/make_mixed_ckpt.py``.
mixed.ckpt holds one tensor of each dtype MindSpore 2.x checkpoints carry, scalars from
``append_dict`` (an int, a float, a string), so the
checkpoint reader is tested against MindSpore's writer rather than against itself.
mixed_expected.npz holds the values fed to MindSpore (bfloat16 stored as float32, which
holds every bfloat16 value exactly; the string as a 0-d unicode array).
"""

from __future__ import annotations

from pathlib import Path

import ml_dtypes
import numpy as np

HERE = Path(__file__).resolve().parent


def arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    return {
        "dense.weight": rng.standard_normal((4, 3)).astype(np.float32),
        "half.weight": rng.standard_normal((2, 5)).astype(np.float16),
        "bf16.weight": rng.standard_normal((3, 2)).astype(ml_dtypes.bfloat16),
        "double.bias": rng.standard_normal((3,)).astype(np.float64),
        "index.table": rng.integers(-1000, 1000, (2, 2, 2)).astype(np.int32),
        "count.long": rng.integers(-(2**40), 2**40, (3,)).astype(np.int64),
        "mask.bool": rng.integers(0, 2, (5,)).astype(np.bool_),
        "pixels.u8": rng.integers(0, 255, (2, 3)).astype(np.uint8),
        "small.i8": rng.integers(-100, 100, (4,)).astype(np.int8),
        "i16.x": rng.integers(-3000, 3000, (2,)).astype(np.int16),
        "scalar.f32": np.asarray(np.float32(2.5)),
    }


def main() -> None:
    import mindspore as ms

    data = arrays()
    save_list = [{"name": k, "data": ms.Tensor(v)} for k, v in data.items()]
    append = {"global_step": 1234, "learning_rate": 0.01, "note": "trained with dstudio"}
    target = HERE / "mixed.ckpt"
    if target.exists():
        target.chmod(0o644)
    ms.save_checkpoint(save_list, str(target), append_dict=append)
    target.chmod(0o644)  # MindSpore leaves it owner-read-only
    expected = {k: (v.astype(np.float32) if v.dtype == ml_dtypes.bfloat16 else v) for k, v in data.items()}
    expected["global_step"] = np.asarray(np.int64(1234))
    expected["learning_rate"] = np.asarray(np.float32(0.01))
    expected["note"] = np.asarray("trained with dstudio")
    np.savez(HERE / "mixed_expected.npz", **expected)


if __name__ == "__main__":
    main()

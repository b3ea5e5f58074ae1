"""The fuzz seeds: the repository's fixtures per format, and parameter files made from its checkpoints."""

from __future__ import annotations

import tempfile
from pathlib import Path

from tests.fuzz.mutate import Seed

DATA = Path(__file__).resolve().parents[1] / "data"
FORMATS = ("mindir", "onnx", "ckpt", "safetensors", "npz")
SMALL_MODELS = ("mlp_bn_dropout", "lenet5")
LARGE_MODELS = ("tiny_transformer", "mobilenetv2_small")


def _models(large: bool) -> tuple[str, ...]:
    return SMALL_MODELS + (LARGE_MODELS if large else ())


def load_seeds(fmt: str, *, large: bool = False) -> list[Seed]:
    """Seeds of one format, small fixtures first; ``large`` adds the bigger models."""
    if fmt == "mindir":
        paths = sorted(DATA.glob("mindir_ops/*/model.mindir")) + [DATA / "mindspore" / m / "model.mindir" for m in _models(large)]
        return [Seed(p.parent.name, {"model.mindir": p.read_bytes()}, "model.mindir", fmt) for p in paths if p.exists()]
    if fmt == "onnx":
        paths = [DATA / "mindspore" / m / "model.onnx" for m in _models(large)]
        return [Seed(p.parent.name, {"model.onnx": p.read_bytes()}, "model.onnx", fmt) for p in paths if p.exists()]
    ckpts = [DATA / "params" / "mixed.ckpt"] + [DATA / "mindspore" / m / "model.ckpt" for m in _models(large)]
    ckpts = [p for p in ckpts if p.exists()]
    if fmt == "ckpt":
        return [Seed(_label(p), {"model.ckpt": p.read_bytes()}, "model.ckpt", fmt) for p in ckpts]
    if fmt in ("safetensors", "npz"):
        from engine import formats

        out = []
        with tempfile.TemporaryDirectory(prefix="dstudio-seeds-") as tmp:
            for p in ckpts:
                target = Path(tmp) / f"{_label(p)}.{fmt}"
                formats.save(formats.load(p), target, fmt=fmt)
                out.append(Seed(_label(p), {f"model.{fmt}": target.read_bytes()}, f"model.{fmt}", fmt))
        return out
    raise ValueError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")


def _label(path: Path) -> str:
    return path.stem if path.parent.name == "params" else path.parent.name

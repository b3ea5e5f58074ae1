"""Named pass chains: the default clean-up and fusion, and one chain per precision variant."""

from __future__ import annotations

from engine.errors import EngineError

#: Exact rewrites every variant starts with.
CLEANUP = ["constant_folding", "dead_code", "shape_simplify", "fuse_batchnorm", "shape_simplify"]
#: What the fp32 variant adds: target-aware fusion and a final sweep.
FUSION = ["fuse_bias_activation", "dead_code"]

#: preset name -> passes after :data:`CLEANUP`.
VARIANT_TAILS: dict[str, list[str]] = {
    "fp32": FUSION,
    "fp16": ["fp16"],
    "int8-weight": ["int8_weight", "compact_names"],
    "int8-dynamic": ["quantize_dynamic"],
    # Both rewrites pay only for int8 kernels (the stem one slows fp32), so they live here.
    "int8-static": ["stem_space_to_depth", "reduce_to_pool", "quantize_static"],
}

PRESETS = ("default", "fp32", "fp16", "int8-weight", "int8-dynamic", "int8-static", "auto")

#: What `auto` tries, in this order (the unmodified model, "plain", is always tried first).
AUTO_VARIANTS = ("fp32", "fp16", "int8-weight", "int8-dynamic", "int8-static")


def preset_passes(preset: str | None) -> list[str]:
    """The pass names of a preset (``None`` or "default": clean-up + fusion).

    Raises:
        EngineError: unknown preset, or "auto" (which is a search, not a chain).
    """
    if preset in (None, "default"):
        return CLEANUP + FUSION
    if preset == "auto":
        raise EngineError("the auto preset is a search over variants, not a pass chain")
    if preset not in VARIANT_TAILS:
        raise EngineError(f"unknown preset {preset!r}", hint="presets: " + ", ".join(PRESETS))
    return CLEANUP + VARIANT_TAILS[preset]

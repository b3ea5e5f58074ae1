"""``dstudio optimize MODEL -o OUT``: fold, fuse, fp16 or quantize, with every pass proven."""

from __future__ import annotations

import argparse
import ast

from engine.cli.output import ProgressBar, print_json, table

EPILOG = """\
examples:
  dstudio optimize model.onnx -o model.opt.onnx                 # clean-up + fusion
  dstudio optimize model.mindir -o model.int8.onnx --preset int8-static --calibration calib.npz
  dstudio optimize model.onnx -o small.onnx --preset int8-weight
  dstudio optimize model.onnx -o fast.onnx --preset auto        # try all variants, keep the fastest in tolerance
  dstudio optimize model.onnx -o fixed.onnx --passes fix_shapes --set fix_shapes.batch=8
  dstudio optimize --list                                       # passes and presets

After every pass the model runs on the target with the same seeded inputs as the input
model; a pass whose outputs leave tolerance (fp32 1e-4/1e-5, fp16 1e-2/1e-2, int8: cosine
>= 0.99) is reported and dropped, unless --force. Calibration files are .npz with one
array per model input, samples stacked on a leading axis.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "optimize",
        help="optimize or quantize a model, proving parity after every pass",
        description="Run graph passes (constant folding, clean-up, BatchNorm and activation fusion, fixed "
        "shapes, fp16, int8 weight-only / dynamic / static) and report, per pass, op counts, size, latency on "
        "the target and parity with the input model.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", nargs="?", help="model file (.onnx, .mindir)")
    p.add_argument("-o", "--output", help="where to write the optimized model (never over the input)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--passes", metavar="A,B,C", help="passes to run, in order (see --list)")
    g.add_argument("--preset", choices=["default", "fp32", "fp16", "int8-weight", "int8-dynamic", "int8-static", "auto"],
                   help="a named chain; auto tries every variant and keeps the fastest within tolerance")
    p.add_argument("--target", "-t", default="onnxruntime:cpu", help="target for parity and latency (default onnxruntime:cpu)")
    p.add_argument("--calibration", metavar="FILE.npz", help="calibration samples for int8-static (default: random)")
    p.add_argument("--set", action="append", default=[], metavar="PASS.OPTION=VALUE", dest="settings",
                   help="a pass option, e.g. fix_shapes.batch=8 or quantize_static.method=entropy (repeatable)")
    p.add_argument("--rtol", type=float, help="parity relative tolerance (default by precision)")
    p.add_argument("--atol", type=float, help="parity absolute tolerance (default by precision)")
    p.add_argument("--seed", type=int, default=0, help="seed of the parity inputs (default 0)")
    p.add_argument("--iterations", type=int, default=20, metavar="N", help="timed runs per measurement (default 20)")
    p.add_argument("--no-latency", action="store_true", help="skip timing (parity is always checked)")
    p.add_argument("--force", action="store_true", help="keep pass outputs that fail parity (auto never picks them)")
    p.add_argument("--list", action="store_true", help="list passes and presets, then exit")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def parse_settings(items: list[str]) -> dict[str, dict[str, object]]:
    """``["fix_shapes.batch=8"]`` -> ``{"fix_shapes": {"batch": 8}}`` (Python literals, else strings)."""
    from engine.cli import UsageError

    out: dict[str, dict[str, object]] = {}
    for item in items:
        key, sep, text = item.partition("=")
        name, dot, option = key.strip().partition(".")
        if not sep or not dot or not name or not option:
            raise UsageError(f"--set takes PASS.OPTION=VALUE, not {item!r}")
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = text
        out.setdefault(name, {})[option] = value
    return out


def run(args: argparse.Namespace) -> int:
    from engine import formats
    from engine.cli import UsageError
    from engine.fileio import check_output_path
    from engine.optimize import optimize
    from engine.passes import pass_names

    if args.list:
        return _list(args.json)
    if not args.model or not args.output:
        raise UsageError("give a MODEL and -o OUT (or --list)")
    if args.iterations < 1:
        raise UsageError(f"--iterations must be at least 1, not {args.iterations}")
    passes = [p.strip() for p in args.passes.split(",") if p.strip()] if args.passes else None
    if args.passes is not None and not passes:
        raise UsageError("--passes is empty")
    unknown = [p for p in passes or [] if p not in pass_names()]
    if unknown:
        raise UsageError(f"unknown pass {', '.join(unknown)}; known: {', '.join(pass_names())}")
    settings = parse_settings(args.settings)
    bad = [k for k in settings if k not in pass_names()]
    if bad:
        raise UsageError(f"--set names unknown pass {', '.join(bad)}")
    check_output_path(args.output, [args.model])

    with ProgressBar() as bar:
        job = bar.job()
        model = formats.load(args.model, job=job.sub(0.0, 0.05))
        result = optimize(model, passes=passes, preset=args.preset, target=args.target,
                          calibration=args.calibration, rtol=args.rtol, atol=args.atol, force=args.force,
                          measure_latency=not args.no_latency, job=job.sub(0.05, 0.97), pass_options=settings,
                          seed=args.seed, iterations=args.iterations)
        formats.save(result.model, args.output, job=job.sub(0.97, 1.0))
    if args.json:
        data = result.to_dict()
        data["output"] = str(args.output)
        print_json(data)
        return 0
    print_result(result, args.output)
    return 0


def print_result(result, output: str) -> None:
    """The human-readable report: variants (auto), the per-pass table, the summary line."""
    if result.variants:
        print(f"variants on {result.target}:")
        rows = []
        for v in result.variants:
            p = v.parity
            rows.append((v.name, _ms(v.latency_ms), _size(v.size), v.nodes or "-",
                         _abs(p.max_abs) if p else "-", _cos(p.cosine) if p else "-",
                         ("ok" if p.passed else "FAIL") if p else "-",
                         "CHOSEN" if v.chosen else _short(v.reason)))
        print(table(rows, ["variant", "latency ms", "size", "nodes", "max_abs", "cosine", "parity", "kept or why not"]))
        print()
    print(f"passes{' of ' + result.chosen if result.chosen else ''} on {result.target}:")
    rows = [("input", "", "", f"{sum(result.baseline_ops.values())}", _size(result.baseline_size),
             _ms(result.baseline_latency_ms), "", "", "")]
    for s in result.steps:
        p = s.parity
        kept = "kept" if s.kept and s.modified else ("-" if s.reason == "unchanged" else _short(s.reason))
        if s.reason.startswith("kept (forced)"):
            kept = "KEPT (forced, parity failed)"
        rows.append((s.name, "yes" if s.modified else "no", f"{s.nodes_before}->{s.nodes_after}",
                     _ops_delta(s.ops_before, s.ops_after), _size(s.size_after), _ms(s.latency_ms),
                     _abs(p.max_abs) if p else "", _cos(p.cosine) if p else "", kept))
    print(table(rows, ["pass", "modified", "nodes", "ops changed", "size", "latency ms", "max_abs", "cosine",
                       "kept or why not"]))
    for s in result.steps:
        if s.reason and s.reason != "unchanged":
            print(f"  {s.name}: {s.reason}")
    final = result.parity
    speed = ""
    if result.baseline_latency_ms and result.final_latency_ms:
        speed = (f", latency {result.baseline_latency_ms:.3g} -> {result.final_latency_ms:.3g} ms "
                 f"(speed-up {result.baseline_latency_ms / result.final_latency_ms:.2f}x)")
    verdict = "" if final is None else (f", parity {'ok' if final.passed else 'FAILED'} "
                                       f"(max_abs {_abs(final.max_abs)}, cosine {_cos(final.cosine)}, {final.precision})")
    print(f"\n{_size(result.baseline_size)} -> {_size(result.final_size)}{speed}{verdict}")
    print(f"wrote {output}")


def _list(as_json: bool) -> int:
    from engine.optimize import PRESETS, preset_passes
    from engine.passes import describe_passes

    passes = describe_passes()
    presets = {p: (preset_passes(p) if p != "auto" else ["tries: plain, fp32, fp16, int8-weight, int8-dynamic, int8-static"])
               for p in PRESETS}
    if as_json:
        print_json({"passes": [{"name": n, "precision": pr, "summary": s} for n, pr, s in passes], "presets": presets})
        return 0
    print(table(passes, ["pass", "precision", "what it does"]))
    print()
    print(table([(k, ", ".join(v)) for k, v in presets.items()], ["preset", "passes"]))
    return 0


def _ops_delta(before: dict[str, int], after: dict[str, int]) -> str:
    parts = []
    for op in sorted(set(before) | set(after)):
        b, a = before.get(op, 0), after.get(op, 0)
        if a != b:
            parts.append(f"{op} {b}->{a}")
    text = ", ".join(parts)
    return text if len(text) <= 48 else text[:45] + "..."


def _short(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


def _ms(x: float | None) -> str:
    return "-" if x is None else f"{x:.3g}"


def _abs(x: float) -> str:
    return f"{x:.2g}"


def _cos(x: float) -> str:
    return f"{x:.5f}"


def _size(n: int) -> str:
    if n >= 1 << 20:
        return f"{n / (1 << 20):.2f} MiB"
    if n >= 1 << 10:
        return f"{n / (1 << 10):.1f} KiB"
    return f"{n} B"

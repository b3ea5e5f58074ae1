"""`dstudio validate MODEL`: structural checks, parity across targets or against another model."""

from __future__ import annotations

import argparse
import math

from engine.cli.output import ProgressBar, print_json, table

EPILOG = """\
exit status:
  0  the checks ran and passed: no structural errors, every output within tolerance
  1  parity failed, a structural error was found, a run failed, or the inputs, a target or
     a file were unusable (one line on stderr)
  2  usage error

examples:
  dstudio validate model.onnx --against model.opt.onnx
  dstudio validate model.mindir --target mindspore:cpu --target onnxruntime:cpu --target reference
  dstudio validate model.onnx --inputs x.npz --rtol 1e-3 --atol 1e-4 --json

The first run (MODEL on the first --target) is the reference; every other target, and
--against on the first target, is compared with it on the same inputs. Default tolerances
follow the precision the candidate computes in (fp32 1e-4/1e-5, fp16 1e-2/1e-2, bf16 5e-2,
int8-quantized 1e-1; rtol/atol). An element passes when |c - r| <= atol + rtol * |r|.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "validate",
        help="check a model's structure and compare its outputs across targets or with another model",
        description="Structural checks (ONNX checker, shape inference, op support, dangling tensors, "
        "unused initializers, dynamic dims), then output parity, then the first node whose output diverges.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", help="model to validate (.onnx, .mindir)")
    p.add_argument("--against", metavar="OTHER", help="compare with this model on the first target")
    p.add_argument("--target", "-t", action="append", metavar="TARGET",
                   help="target to run on (repeatable; default onnxruntime:cpu; see dstudio targets)")
    p.add_argument("--inputs", metavar="FILE", help="inputs: .npy for a one-input model, .npz by input name")
    p.add_argument("--shape", action="append", default=[], metavar="NAME=DIMS",
                   help="shape of a generated input with dynamic dims, e.g. x=1x3x224x224 (repeatable)")
    p.add_argument("--seed", type=int, default=0, help="seed for generated inputs (default 0)")
    p.add_argument("--rtol", type=float, help="relative tolerance (default: by precision)")
    p.add_argument("--atol", type=float, help="absolute tolerance (default: by precision)")
    p.add_argument("--no-divergence", action="store_true", help="do not search for the first divergent node")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine import formats
    from engine.cli import UsageError
    from engine.validate import validate

    for name in ("rtol", "atol"):
        value = getattr(args, name)
        if value is not None and (value < 0 or not math.isfinite(value)):
            raise UsageError(f"--{name} must be a finite number >= 0, not {value}")
    from engine.cli.cmd_bench import parse_shapes

    shapes = parse_shapes(args.shape)
    if shapes and args.inputs:
        raise UsageError("--shape cannot be combined with --inputs (the file fixes the shapes)")
    targets = args.target or ["onnxruntime:cpu"]
    with ProgressBar(enabled=None if not args.json else False) as bar:
        job = bar.job()
        model = formats.load(args.model, job=job.sub(0.0, 0.1))
        against = formats.load(args.against, job=job.sub(0.1, 0.2)) if args.against else None
        report = validate(
            model, against=against, targets=targets, inputs_path=args.inputs, seed=args.seed,
            rtol=args.rtol, atol=args.atol, find_divergence=not args.no_divergence, job=job.sub(0.2, 1.0),
            shapes=shapes or None,
        )
    if args.json:
        print_json(report.to_dict())
    else:
        print(render(report))
    return 0 if report.passed else 1


def render(report) -> str:
    """The report as text: findings, runs, a parity table per comparison, divergence, verdict."""
    lines: list[str] = []
    if report.findings:
        lines.append("structural checks:")
        lines += [f"  {f.severity.upper():7s} {f.code}: {f.message}" + (f" [node {f.node}]" if f.node else "")
                  for f in report.findings]
    else:
        lines.append("structural checks: no findings")
    lines.append(f"inputs: {report.inputs.get('source', '?')}")
    for run in report.runs:
        status = f"FAILED: {run.error}" if run.error else f"ok ({run.seconds:.2f} s)"
        lines.append(f"run: {run.label}: {status}")
    for parity in report.comparisons:
        lines.append("")
        lines.append(f"{parity.candidate}  vs  {parity.reference} (reference):")
        rows = [[o.name, o.dtype, o.max_abs, o.max_rel, o.mean_abs, o.cosine,
                 f"{o.rtol:g}/{o.atol:g}", o.min_passing_atol, "pass" if o.passed else "FAIL"]
                for o in parity.outputs]
        lines.append(table(rows, ["output", "dtype", "max abs", "max rel", "mean abs", "cosine",
                                  "rtol/atol", "min atol", "result"]))
    for note in report.notes:
        lines.append(f"note: {note}")
    if report.first_divergent is not None:
        d = report.first_divergent
        between = f" ({report.divergent_between[1]} vs {report.divergent_between[0]})" if report.divergent_between else ""
        lines.append("")
        lines.append(f"first divergent node{between}: {d.node}")
        span = "" if d.span <= 1 else f"; somewhere in the {d.span} nodes ending here (names fused away between)"
        lines.append(f"  op {d.op_type}, output {d.output!r}, max abs {d.max_abs:.4g}, max rel {d.max_rel:.4g}, "
                     f"tolerance {d.rtol:g}/{d.atol:g}, node #{d.index} in topological order, "
                     f"found in {d.runs} run(s){span}")
    elif report.divergence_note:
        lines.append(f"first divergent node: not found ({report.divergence_note})")
    lines.append("")
    lines.append("PASS" if report.passed else "FAIL")
    return "\n".join(lines)

"""The `graphc` command line: compile, run, inspect, opt.

Every user error ends as one line on stderr and exit status 1 (2 for bad command-line usage);
a Python traceback appears only for internal errors when GRAPHC_TRACEBACK=1 is set.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
import zipfile

import numpy as np

from graphc.errors import GraphcError
from graphc.runtime.errors import ArtifactError, RuntimeInputError

USER_ERRORS = (GraphcError, ArtifactError, RuntimeInputError)


class UsageError(Exception):
    pass


def parse_shape_spec(spec: str) -> tuple[str, tuple[int, ...]]:
    """`name=1x224x224x3` → ("name", (1, 224, 224, 3)); a scalar is `name=`."""
    name, sep, dims = spec.rpartition("=")
    if not sep or not name:
        raise UsageError(f"--input-shape '{spec}' must look like NAME=1x224x224x3")
    try:
        shape = tuple(int(d) for d in dims.split("x")) if dims else ()
    except ValueError:
        raise UsageError(f"--input-shape '{spec}': dimensions must be integers separated by 'x'") from None
    if any(d < 0 for d in shape):
        raise UsageError(f"--input-shape '{spec}': dimensions must be non-negative")
    return name, shape


def _names(value: str | None) -> list[str] | None:
    return [n.strip() for n in value.split(",") if n.strip()] if value else None


def target_options(args: argparse.Namespace) -> dict:
    """The target-specific flags that were given (the backend's `configure` takes them)."""
    names = ("systolic_config", "systolic_array", "dataflow")
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}


def cmd_compile(args: argparse.Namespace) -> int:
    import graphc

    from graphc.dumps import cmd_compile_to, dumper_from_args, timing_table

    shapes = dict(parse_shape_spec(s) for s in args.input_shape)
    if args.compile_to:
        return cmd_compile_to(args, shapes, _names(args.inputs), _names(args.outputs), _quantize_options(args))
    from graphc.passes import DEFAULT_PIPELINE, FUSION_PIPELINE
    from graphc.progress import Progress, pipeline_length

    steps = 2 + pipeline_length(DEFAULT_PIPELINE, "" if args.no_fusion else FUSION_PIPELINE)
    progress = Progress.for_terminal(steps, quiet=args.quiet)
    try:
        model = graphc.compile(
            args.model,
            target=args.target,
            input_shapes=shapes,
            inputs=_names(args.inputs),
            outputs=_names(args.outputs),
            verify_each=args.verify_each,
            fusion=False if args.no_fusion else None,
            dumper=dumper_from_args(args),
            weights=args.weights,
            progress=progress.step,
            target_options=target_options(args),
            quantize=_quantize_options(args),
        )
    finally:
        progress.close()
    if args.timing:
        print(timing_table(model.stats), file=sys.stderr)
    out = args.output or os.path.splitext(os.path.basename(args.model))[0] + ".gcx"
    model.save(out)
    if not args.quiet:
        kernels = len(model.artifact.schedule)
        print(f"wrote {out} ({args.target}, {kernels} kernels, {os.path.getsize(out)} bytes)")
    if args.report:
        from graphc.report import fallback_report, kernel_report, layout_report, memory_report, quant_report

        print(kernel_report(model.program, model.stats.unfused))
        for line in (memory_report(model.artifact.meta), fallback_report(model.artifact.meta)):
            if line:
                print(line)
        layout = layout_report(model.program)
        if layout:
            print(layout)
        for entry in model.artifact.meta.get("placement", []):  # targets that split host/device
            print(f"  {entry['name']:<20} {entry['kind']:<10} on {entry['where']:<9} {entry['why']}")
        quant = quant_report(model.program)
        if quant:
            print(quant)
    return 0


def _quantize_options(args: argparse.Namespace):
    if args.quantize is None:
        if args.calibration is not None:
            raise GraphcError("--calibration needs --quantize int8")
        return None
    from graphc.calibration import QuantizeOptions

    if args.calibration is None:
        raise GraphcError("--quantize int8 needs --calibration samples.npz (inputs to calibrate the ranges on)")
    return QuantizeOptions(args.calibration, args.calibration_observer, scheme=args.quantize)


def _read_npz(path: str) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise GraphcError("no such file", source=path) from None
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise GraphcError(f"not a readable .npz file ({err})", source=path) from None


def cmd_run(args: argparse.Namespace) -> int:
    import graphc

    model = graphc.load(args.artifact)
    inputs = _read_npz(args.inputs)
    outputs = model.run(inputs)
    if args.report or args.report_json:
        report = getattr(model.executor, "last_report", None)
        if report is None:
            raise GraphcError(f"--report: the {model.artifact.backend} target records no run report (the systolic target does)")
        if args.report:
            print(report.text())
        if args.report_json:
            import json

            with open(args.report_json, "w") as f:
                json.dump(report.to_json(), f, indent=1)
    # .npz has no bfloat16: such outputs are stored as their raw 2-byte patterns (|V2), which
    # `graphc run` accepts back for bfloat16 inputs (view them as ml_dtypes.bfloat16 to read them).
    np.savez(args.out, **{k: v.view("V2") if v.dtype.name == "bfloat16" else v for k, v in outputs.items()})
    if not args.quiet:
        summary = ", ".join(f"{k} {list(v.shape)} {v.dtype}" for k, v in outputs.items())
        print(f"wrote {args.out}: {summary}")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from graphc.frontends import detect_format, read_model_bytes

    data, source = read_model_bytes(args.model)
    if detect_format(data, source) == "onnx":
        from graphc.frontends.onnx import inspect_onnx

        info = inspect_onnx(data, source=source)
    else:
        from graphc.frontends.tensorflow import inspect_graphdef

        info = inspect_graphdef(data, source=source)
    print(f"model: {source}")
    print("inputs:")
    for item in info["inputs"]:
        print(f"  {item['name']}: {item.get('dtype', '?')} {item.get('shape')}")
    print("outputs:")
    for name in info["outputs"]:
        print(f"  {name}")
    print(f"parameters: {info.get('parameters', 0)}")
    print("ops:")
    for op, count in sorted(info["op_histogram"].items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"  {count:5d}  {op}")
    unsupported = info.get("unsupported", {})
    if unsupported:
        print("unsupported ops:")
        for op, nodes in sorted(unsupported.items()):
            print(f"  {op}: {', '.join(nodes)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="graphc", description="A kernel-fusion compiler for ML graphs.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("compile", help="compile a model into an artifact (.gcx)")
    p.add_argument("model", help="a TensorFlow frozen GraphDef (.pb), an ONNX model (.onnx), or a .mlir stage to resume from")
    p.add_argument("-o", "--output", help="artifact path (default: MODEL.gcx in the current folder)")
    p.add_argument("--target", default="cpu", help="cpu (native code through LLVM), reference (JAX) or systolic (simulated int8 array)")
    p.add_argument("--input-shape", action="append", default=[], metavar="NAME=DxDx…",
                   help="specialise an input's shape (needed for unknown dimensions); repeatable")  # fmt: skip
    p.add_argument("--inputs", help="comma-separated input names (default: consumed placeholders)")
    p.add_argument("--outputs", help="comma-separated output names (default: the graph's sinks)")
    p.add_argument("--verify-each", action="store_true", help="verify the IR after every pass")
    p.add_argument("--no-fusion", action="store_true",
                   help="skip the fusion passes even if the target consumes fusion regions")  # fmt: skip
    p.add_argument("--report", action="store_true",
                   help="print the kernels (fusion regions and the ops in them) and bytes moved fused vs unfused")  # fmt: skip
    p.add_argument("-q", "--quiet", action="store_true")
    g = p.add_argument_group("systolic target (--target systolic)")
    g.add_argument("--systolic-array", metavar="RxC", help="array rows x columns (default 128x128)")
    g.add_argument("--dataflow", choices=["ws", "os", "is"], help="weight-, output- or input-stationary (default ws)")
    g.add_argument("--systolic-config", metavar="FILE", help="machine description (JSON or TOML; flags override it)")
    p.add_argument("--quantize", choices=["int8"],
                   help="post-training static quantization (TFLite scheme): conv/matmul layers run in int8")  # fmt: skip
    p.add_argument("--calibration", metavar="SAMPLES.npz",
                   help="calibration inputs for --quantize, keyed by input name (N×shape or N×shape[1:])")  # fmt: skip
    p.add_argument("--calibration-observer", choices=["minmax", "percentile"], default="percentile",
                   help="how ranges are taken from the calibration run: percentile (99.99, default) or min/max")  # fmt: skip
    from graphc.dumps import add_compile_arguments

    add_compile_arguments(p)  # --dump-ir, --print-ir-*, --timing, --compile-to, --weights (resume)
    p.set_defaults(fn=cmd_compile)

    p = sub.add_parser("run", help="run an artifact on inputs from an .npz file")
    p.add_argument("artifact")
    p.add_argument("--inputs", required=True,
                   help=".npz whose keys are the input names (bfloat16 inputs may be raw 2-byte |V2 arrays)")
    p.add_argument("--out", required=True, help=".npz to write, keyed by output names (bfloat16 as raw |V2)")
    p.add_argument("--report", action="store_true", help="systolic: print the per-layer cycles, utilization, traffic")
    p.add_argument("--report-json", metavar="FILE", help="systolic: write the per-layer report as JSON")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(fn=cmd_run)

    p = sub.add_parser("inspect", help="inputs, outputs, op histogram, unsupported ops, parameters")
    p.add_argument("model")
    p.set_defaults(fn=cmd_inspect)

    from graphc.opt import add_parser as add_opt_parser

    add_opt_parser(sub)

    from graphc.debug import add_parser as add_debug_parser
    from graphc.viz import add_parser as add_viz_parser

    add_debug_parser(sub)
    add_viz_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.fn(args)
    except UsageError as err:
        print(f"graphc: error: {err}", file=sys.stderr)
        return 2
    except USER_ERRORS as err:
        print(f"graphc: error: {_one_line(err)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("graphc: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # an internal error: still one line unless asked for the traceback
        if os.environ.get("GRAPHC_TRACEBACK"):
            traceback.print_exc()
        print(
            f"graphc: internal error: {type(err).__name__}: {_one_line(err)} "
            "(set GRAPHC_TRACEBACK=1 for details and please report it)",
            file=sys.stderr,
        )
        return 3


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())


if __name__ == "__main__":
    sys.exit(main())

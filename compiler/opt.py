"""`graphc opt`: run passes on MLIR text and print the result (graphc's `mlir-opt`).

    graphc opt dump.mlir -p 'fuse-epilogues,fuse-elementwise{max-ops=8}' [--weights w.npz] [-o out.mlir]
    graphc opt --list-passes

The input may hold any dialect graphc parses (`graph`, `fusion`, `func`, `arith`, …); `-` reads
stdin. The pipeline uses xDSL's syntax over graphc's pass registry (`graphc.passes.PASSES`). Weights
(`dense_resource` constants) come from `--weights FILE.npz` (keys are resource names); without it an
empty weight store is bound, which is enough for every pass on IR whose constants are inline. The
input is verified before the passes (unless `--no-verify-input`: a dump whose argument types were
edited by hand, for `infer-shapes` to repair) and after each of them, so a dump taken anywhere in
the pipeline can be fed back and checked. Errors are one line naming the file, like the rest of the CLI.
"""

from __future__ import annotations

import sys

import numpy as np
from xdsl.passes import PassPipeline
from xdsl.utils.exceptions import VerifyException

from graphc.context import make_context, parse_module
from graphc.dialects.resources import WeightStore
from graphc.errors import GraphcError
from graphc.passes import PASSES
from graphc.passes.weights_context import bound_weights


def list_passes() -> str:
    lines = []
    for name, get in PASSES.items():
        doc = (sys.modules[get().__module__].__doc__ or "").strip().splitlines()
        summary = doc[0].split(":", 1)[-1].strip() if doc else ""
        lines.append(f"{name:<22} {summary}")
    return "\n".join(lines)


def run_opt(text: str, passes: str, source: str = "<stdin>", weights: WeightStore | None = None,
            verify_input: bool = True) -> str:  # fmt: skip
    """Parses `text`, applies the pipeline `passes` and returns the printed module."""
    module = parse_module(text, source=source)
    if verify_input:
        _verify(module, source, None)
    try:
        pipeline = PassPipeline.parse_spec(PASSES, passes) if passes.strip() else None
    except (ValueError, TypeError) as err:
        raise GraphcError(f"bad pass pipeline '{passes}': {err}") from None
    if pipeline is not None:
        ctx = make_context()
        with bound_weights(weights if weights is not None else WeightStore()):
            for module_pass in pipeline.passes:
                try:
                    module_pass.apply(ctx, module)
                except KeyError as err:  # a dense_resource the weight store lacks
                    raise GraphcError(f"pass '{module_pass.name}': {err.args[0]} (give --weights FILE.npz)",
                                      source=source) from None  # fmt: skip
                _verify(module, source, f"pass '{module_pass.name}'")
    return str(module)


def read_weights(path: str) -> WeightStore:
    try:
        with np.load(path, allow_pickle=False) as data:
            return WeightStore({k: data[k] for k in data.files})
    except FileNotFoundError:
        raise GraphcError("no such file", source=path) from None
    except (OSError, ValueError) as err:
        raise GraphcError(f"not a readable .npz file ({err})", source=path) from None


def cmd_opt(args) -> int:
    if args.list_passes:
        print(list_passes())
        return 0
    if args.file is None:
        raise GraphcError("give an MLIR file (or - for stdin), or --list-passes")
    if args.file == "-":
        text, source = sys.stdin.read(), "<stdin>"
    else:
        try:
            with open(args.file, encoding="utf-8") as handle:
                text = handle.read()
        except FileNotFoundError:
            raise GraphcError("no such file", source=args.file) from None
        except (OSError, UnicodeDecodeError) as err:
            raise GraphcError(f"cannot read it ({err})", source=args.file) from None
        source = args.file
    weights = read_weights(args.weights) if args.weights else None
    result = run_opt(text, args.passes, source=source, weights=weights, verify_input=not args.no_verify_input)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(result + "\n")
    else:
        print(result)
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("opt", help="run passes on MLIR text and print the result")
    p.add_argument("file", nargs="?", help="MLIR file (graph/fusion dialects), or - for stdin")
    p.add_argument("-p", "--passes", default="", help="pass pipeline, e.g. 'fuse-epilogues,fuse-remaining'")
    p.add_argument("--weights", help=".npz of dense_resource weights (keys are resource names)")
    p.add_argument("-o", "--output", help="write the result here instead of stdout")
    p.add_argument("--no-verify-input", action="store_true",
                   help="do not verify the input (e.g. a hand-edited dump whose types infer-shapes will repair)")  # fmt: skip
    p.add_argument("--list-passes", action="store_true", help="list the passes with their one-line summaries")
    p.set_defaults(fn=cmd_opt)


def _verify(module, source: str, after: str | None) -> None:
    try:
        module.verify()
    except VerifyException as err:
        lines = [line for line in str(err).splitlines() if line.strip()]
        where = f"IR does not verify after {after}" if after else "IR does not verify"
        raise GraphcError(f"{where}: {lines[0] if lines else err}", source=source) from None

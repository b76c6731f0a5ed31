"""IR dumps, printing and timing around `graphc compile`, and resuming from a dumped stage.

    graphc compile MODEL.pb --dump-ir DIR            # DIR/00-import.mlir, 01-infer-shapes.mlir, …,
                                                     # the backend's text sections, weights.npz
    graphc compile MODEL.pb --print-ir-after=fuse-   # MLIR text to stderr after matching passes
    graphc compile MODEL.pb --compile-to=graph       # MODEL.graph.mlir + MODEL.graph.weights.npz
    graphc compile MODEL.graph.mlir …                # resume from a (possibly hand-edited) stage

Dumps are numbered in pipeline order: 00 is the front end's output, then one file per pass of the
graph pipeline and the fusion pipeline, then the backend's text sections (`NN-cpu-loops.mlir`,
`NN-cpu-llvm.ll`; `NN-reference-graph.mlir`) and `weights.npz` (the weight store after the passes,
keyed by resource name, plus the weights earlier dumps refer to that the passes folded away: any
dump resumes with it). The same input gives byte-identical files (the `.npz` zips carry a fixed
timestamp), so CI can diff dumps.

Resuming: a `.mlir` input is parsed, its stage read from its ops (any `fusion.region`: the fusion
stage, so both pipelines are skipped; otherwise the graph pipeline and, for backends that take
regions, the fusion pipeline run — the graph passes are idempotent, so running them again on IR
that already went through them changes nothing), and compilation continues to the backend.
"""

from __future__ import annotations

import io
import os
import re
import sys
import zipfile
from collections.abc import Mapping
from typing import TextIO

import numpy as np
from xdsl.dialects.builtin import ModuleOp
from xdsl.utils.exceptions import VerifyException

from graphc.errors import GraphcError

STAGES = ("import", "graph", "fusion")
"""`--compile-to` stages: the front end's output, after `DEFAULT_PIPELINE`, after `FUSION_PIPELINE`."""


def header(when: str, name: str, number: int) -> str:
    """MLIR's dump header, e.g. `// -----// IR Dump After fold-constants (3) //----- //`."""
    return f"// -----// IR Dump {when} {name} ({number}) //----- //"


def module_text(module: ModuleOp) -> str:
    return str(module) + "\n"


def save_npz(path: str, arrays: Mapping[str, np.ndarray]) -> None:
    """`np.savez` with sorted keys and a fixed timestamp: the same arrays give the same bytes."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for key in sorted(arrays):
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(arrays[key]), allow_pickle=False)
            info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, buffer.getvalue())


def load_npz(path: str) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise GraphcError("no such file", source=path) from None
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise GraphcError(f"not a readable .npz file ({err})", source=path) from None


def _compile_regex(pattern: str | None, flag: str):
    if pattern is None:
        return None
    try:
        return re.compile(pattern)
    except re.error as err:
        raise GraphcError(f"{flag}: bad regular expression '{pattern}': {err}") from None


class IRDumper:
    """Hooks the driver calls: after the front end, before/after each pass, after the backend.

    Pass numbers count from 1 across the graph and fusion pipelines (0 is the import)."""

    def __init__(
        self,
        *,
        dump_dir: str | None = None,
        print_after_all: bool = False,
        print_before: str | None = None,
        print_after: str | None = None,
        stream: TextIO | None = None,
    ):
        self.dump_dir = dump_dir
        self.print_after_all = print_after_all
        self.print_before = _compile_regex(print_before, "--print-ir-before")
        self.print_after = _compile_regex(print_after, "--print-ir-after")
        self.stream = stream
        self.next_number = 0
        self.weights = None
        self.snapshots: list[tuple[str, dict[str, np.ndarray]]] = []
        if dump_dir is not None:
            try:
                os.makedirs(dump_dir, exist_ok=True)
            except OSError as err:
                raise GraphcError(f"cannot create the dump folder: {err.strerror}", source=dump_dir) from None

    @property
    def active(self) -> bool:
        return bool(self.dump_dir or self.print_after_all or self.print_before or self.print_after)

    def _print(self, when: str, name: str, number: int, module: ModuleOp) -> None:
        stream = self.stream or sys.stderr
        stream.write(header(when, name, number) + "\n" + module_text(module) + "\n")

    def _write(self, filename: str, data: bytes | str) -> None:
        if self.dump_dir is None:
            return
        mode = "wb" if isinstance(data, bytes) else "w"
        with open(os.path.join(self.dump_dir, filename), mode, **({} if mode == "wb" else {"encoding": "utf-8"})) as f:
            f.write(data)

    def start(self, stage: str, module: ModuleOp) -> None:
        """The program as compilation starts: `import` for a model, the stage name when resuming."""
        self.next_number = 0
        if self.print_after_all or (self.print_after and self.print_after.search(stage)):
            self._print("After", stage, 0, module)
        self._write(f"00-{stage}.mlir", module_text(module))
        self._snapshot(f"00-{stage}")
        self.next_number = 1

    def bind_weights(self, weights) -> None:
        """The program's `WeightStore`: each dump's weights are snapshotted (references, no copies)."""
        self.weights = weights

    def _snapshot(self, stem: str) -> None:
        if self.dump_dir is not None and self.weights is not None:
            self.snapshots.append((stem, dict(self.weights.arrays)))

    def before_pass(self, index: int, module_pass, module: ModuleOp) -> None:
        if self.print_before and self.print_before.search(module_pass.name):
            self._print("Before", module_pass.name, index + 1, module)

    def after_pass(self, index: int, module_pass, module: ModuleOp) -> None:
        number = index + 1
        if self.print_after_all or (self.print_after and self.print_after.search(module_pass.name)):
            self._print("After", module_pass.name, number, module)
        self._write(f"{number:02d}-{module_pass.name}.mlir", module_text(module))
        self._snapshot(f"{number:02d}-{module_pass.name}")
        self.next_number = number + 1

    def finish(self, backend_name: str, sections: Mapping[str, bytes], weights: Mapping[str, np.ndarray]) -> None:
        """The backend's text sections (binary ones such as object code are left out) and the weights."""
        if self.dump_dir is None:
            return
        number = self.next_number
        for name in sections:  # the backend's order (deterministic: a dict built in code)
            data = sections[name]
            if not is_text(data):
                continue
            self._write(f"{number:02d}-{backend_name}-{name.replace('/', '-')}", data)
            number += 1
        # weights.npz: the final store plus every earlier weight the passes dropped (folded away),
        # so that each NN-*.mlir resumes with it. Should a pass reuse a dropped name for another
        # array, the dumps that mean the older array get their own NN-pass.weights.npz (found first).
        union = dict(weights)
        for _, arrays in reversed(self.snapshots):
            for name, array in arrays.items():
                union.setdefault(name, array)
        for stem, arrays in self.snapshots:
            if any(union[n] is not a and not _same(union[n], a) for n, a in arrays.items()):
                save_npz(os.path.join(self.dump_dir, stem + ".weights.npz"), arrays)
        save_npz(os.path.join(self.dump_dir, "weights.npz"), union)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")


def is_text(data: bytes) -> bool:
    if b"\0" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def timing_table(stats) -> str:
    """`--timing`: one row per pass (seconds, ops before and after), then the stages."""
    rows = []
    timings = stats.passes.timings if stats.passes else []
    width = max([len("total (passes)")] + [len(t.name) for t in timings] + [len(s) - 3 for s in stats.stages])
    rows.append(f"{'#':>3}  {'pass':<{width}}  {'seconds':>9}  {'ops before':>10}  {'ops after':>9}")
    total = 0.0
    for number, t in enumerate(timings, 1):
        total += t.seconds
        rows.append(f"{number:>3}  {t.name:<{width}}  {t.seconds:>9.4f}  {t.ops_before:>10d}  {t.ops_after:>9d}")
    rows.append(f"{'':>3}  {'total (passes)':<{width}}  {total:>9.4f}")
    if stats.stages:
        rows.append("stages:")
        for name, seconds in stats.stages.items():
            rows.append(f"  {name:<{width + 3}}  {seconds:>9.4f}")
    return "\n".join(rows)


def stage_of(module: ModuleOp) -> str:
    """The stage a parsed dump is at: `fusion` if it holds any `fusion.region`, else `import` (the
    graph pipeline then runs on it; it is idempotent, so a `graph`-stage dump is unchanged by it)."""
    from graphc.dialects import fusion

    if any(isinstance(op, fusion.RegionOp) for op in module.walk()):
        return "fusion"
    return "import"


def default_weights_path(mlir_path: str) -> str:
    """`x.graph.mlir` → `x.graph.weights.npz` (beside it)."""
    return os.path.splitext(mlir_path)[0] + ".weights.npz"


def load_stage(path: str, weights_path: str | None = None):
    """A dumped stage as a `GraphProgram` and its stage name (see `stage_of`).

    Weights come from `weights_path`, else the `.weights.npz` beside the file, else `weights.npz` in
    the same folder (a `--dump-ir` folder), else an empty store (fine for IR with inline constants
    only; a missing `dense_resource` is reported by name)."""
    from graphc.context import parse_module
    from graphc.dialects.graph import ConstantOp
    from graphc.dialects.resources import GraphProgram, WeightStore
    from xdsl.dialects.builtin import DenseResourceAttr

    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise GraphcError("no such file", source=path) from None
    except IsADirectoryError:
        raise GraphcError("is a directory, not an MLIR file", source=path) from None
    except (OSError, UnicodeDecodeError) as err:
        raise GraphcError(f"cannot read it ({err})", source=path) from None
    module = parse_module(text, source=path)
    if weights_path is None:
        for candidate in (default_weights_path(path), os.path.join(os.path.dirname(path), "weights.npz")):
            if os.path.exists(candidate):
                weights_path = candidate
                break
    weights = WeightStore(load_npz(weights_path) if weights_path else {})
    program = GraphProgram(module, weights)
    try:
        program.main
    except ValueError as err:
        raise GraphcError(str(err), source=path) from None
    try:
        module.verify()
    except VerifyException as err:
        lines = [line for line in str(err).splitlines() if line.strip()]
        raise GraphcError(f"IR does not verify: {lines[0] if lines else err}", source=path) from None
    missing = sorted(
        {
            op.value.resource_handle.data
            for op in module.walk()
            if isinstance(op, ConstantOp) and isinstance(op.value, DenseResourceAttr)
        }
        - set(weights.arrays)
    )
    if missing:
        where = f"in {weights_path}" if weights_path else "(no weights file: give --weights FILE.npz)"
        raise GraphcError(f"weight resources missing {where}: {', '.join(missing[:5])}"
                          + (f" and {len(missing) - 5} more" if len(missing) > 5 else ""), source=path)  # fmt: skip
    return program, stage_of(module)


def add_compile_arguments(p) -> None:
    """The `graphc compile` flags for dumps, printing, timing, stopping and resuming."""
    p.add_argument("--weights", help="for a .mlir input: the .npz of its weights (default: the .weights.npz beside it)")
    p.add_argument("--print-ir-after-all", action="store_true", help="print the IR after every pass (stderr)")
    p.add_argument("--print-ir-before", metavar="REGEX", help="print the IR before passes whose name matches")
    p.add_argument("--print-ir-after", metavar="REGEX", help="print the IR after passes whose name matches")
    p.add_argument("--dump-ir", metavar="DIR",
                   help="write NN-pass.mlir after the import and every pass, the backend's code and weights.npz")  # fmt: skip
    p.add_argument("--timing", action="store_true", help="print a per-pass table (seconds, ops before/after) to stderr")
    p.add_argument("--compile-to", choices=STAGES, metavar="STAGE",
                   help=f"stop after STAGE ({', '.join(STAGES)}) and write its MLIR to -o (default MODEL.STAGE.mlir) "
                        "and its weights beside it (.weights.npz); compile that file later to resume")  # fmt: skip


def dumper_from_args(args) -> IRDumper | None:
    dumper = IRDumper(
        dump_dir=args.dump_ir,
        print_after_all=args.print_ir_after_all,
        print_before=args.print_ir_before,
        print_after=args.print_ir_after,
    )
    return dumper if dumper.active else None


def cmd_compile_to(args, shapes, inputs, outputs, quantize=None) -> int:
    """`graphc compile … --compile-to=STAGE`: the stage's MLIR text and its weights (`quantize`:
    `--quantize int8`'s options; the graph stage is then the quantized graph)."""
    from graphc.driver import CompileStats, compile_to

    stats = CompileStats()
    program = compile_to(args.model, args.compile_to, shapes, inputs=inputs, outputs=outputs,
                         verify_each=args.verify_each, dumper=dumper_from_args(args), weights=args.weights,
                         stats=stats, quantize=quantize)  # fmt: skip
    out = args.output or os.path.splitext(os.path.basename(os.fspath(args.model)))[0] + f".{args.compile_to}.mlir"
    weights_out = default_weights_path(out)
    try:
        with open(out, "w", encoding="utf-8") as f:
            f.write(module_text(program.module))
        save_npz(weights_out, program.weights.arrays)
    except OSError as err:
        raise GraphcError(f"cannot write: {err.strerror}", source=err.filename or out) from None
    if args.timing:
        print(timing_table(stats), file=sys.stderr)
    if not args.quiet:
        print(f"wrote {out} and {weights_out} (stage {args.compile_to})")
    return 0

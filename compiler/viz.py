"""`graphc viz`: a picture of the graph, with fusion regions as coloured clusters (Graphviz).

    graphc viz MODEL.pb -o graph.svg [--input-shape x=1x224x224x3] [--no-fusion]
    graphc viz dump.mlir -o graph.html        # any stage's IR as printed by graphc, drawn as is
    graphc viz MODEL.pb -o graph.dot          # the DOT text; needs no Graphviz

A model goes through the front end, the graph pipeline and (unless `--no-fusion`) the fusion pipeline,
as `graphc compile` does for the cpu target. Each `fusion.region` is a cluster labelled with its name
and kind, filled with a colour per kind; ops are boxes labelled with their op name; inputs and
outputs are distinct (house-shaped) nodes; weights are small grey notes; every edge carries the
tensor's shape and element type. `.svg`, `.png` and `.pdf` are rendered by Graphviz's `dot` (the
Debian package `graphviz`); `.html` is the SVG in a minimal page.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping

from xdsl.dialects import func
from xdsl.dialects.builtin import DenseResourceAttr, ModuleOp, TensorType
from xdsl.ir import Operation, SSAValue

from graphc.errors import GraphcError

KIND_COLOURS = {
    "loop": "#dbeafe",
    "reduction": "#fef3c7",
    "matmul": "#fee2e2",
    "conv": "#ede9fe",
    "opaque": "#dcfce7",
}
RENDERED = {".svg": "svg", ".png": "png", ".pdf": "pdf"}
TEXT = (".dot", ".gv")


def type_label(t) -> str:
    """`tensor<1x96x96x3xf32>` → `1x96x96x3xf32`; a scalar tensor → `f32`."""
    if isinstance(t, TensorType):
        dims = "x".join(str(d) if d >= 0 else "?" for d in t.get_shape())
        return f"{dims}x{t.element_type}" if dims else str(t.element_type)
    return str(t)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(module: ModuleOp, input_names: list[str] | None = None, output_names: list[str] | None = None,
           title: str = "graphc") -> str:  # fmt: skip
    """The `func.func @main` of `module` (or its first function) as Graphviz DOT text."""
    main = _main(module)
    block = main.body.block
    input_names = input_names or _names(main, "graphc.inputs", "input", len(block.args))
    ret = block.last_op
    results = list(ret.operands) if isinstance(ret, func.ReturnOp) else []
    output_names = output_names or _names(main, "graphc.outputs", "output", len(results))

    lines = [
        f"digraph {_quote(title)} {{",
        "  rankdir=TB;",
        "  graph [fontname=Helvetica, fontsize=11];",
        '  node [shape=box, style="rounded,filled", fillcolor=white, fontname=Helvetica, fontsize=10];',
        "  edge [fontname=Helvetica, fontsize=8, color=\"#555555\"];",
    ]
    source: dict[SSAValue, str] = {}
    edges: list[str] = []
    counter = [0]

    def new_id(prefix: str) -> str:
        counter[0] += 1
        return f"{prefix}{counter[0]}"

    def edge(value: SSAValue, target: str, indent: str = "  ") -> None:
        origin = source.get(value)
        if origin is None:  # defined by something not drawn (should not happen in graph IR)
            return
        edges.append(f"{indent}{origin} -> {target} [label={_quote(type_label(value.type))}];")

    for name, arg in zip(input_names, block.args):
        node = new_id("in")
        source[arg] = node
        label = _quote(name + "\n" + type_label(arg.type))
        lines.append(f'  {node} [label={label}, shape=invhouse, fillcolor="#bfdbfe"];')

    def draw_op(op: Operation, indent: str, out: list[str]) -> None:
        from graphc.dialects.fusion import RegionOp
        from graphc.dialects.graph import ConstantOp

        if isinstance(op, RegionOp):
            cluster = f"cluster_{op.region_name}"
            colour = KIND_COLOURS.get(op.kind_name, "#f3f4f6")
            out.append(f"{indent}subgraph {_quote(cluster)} {{")
            out.append(f"{indent}  label={_quote(f'{op.region_name} ({op.kind_name})')};")
            out.append(f'{indent}  style="rounded,filled"; fillcolor={_quote(colour)}; color="#9ca3af";')
            for operand, arg in zip(op.operands, op.block.args):
                if operand in source:
                    source[arg] = source[operand]
            for inner in op.block.ops:
                if inner.name == "fusion.yield":
                    continue
                draw_op(inner, indent + "  ", out)
            out.append(f"{indent}}}")
            yielded = op.block.last_op.operands if op.block.last_op is not None else []
            for res, value in zip(op.results, yielded):
                if value in source:
                    source[res] = source[value]
            return
        node = new_id("op")
        if isinstance(op, ConstantOp):
            if isinstance(op.value, DenseResourceAttr):
                label = f"{op.value.resource_handle.data}"
            else:
                label = _inline_constant(op)
            out.append(f"{indent}{node} [label={_quote(label)}, shape=note, fillcolor=\"#f3f4f6\", fontsize=8];")
        else:
            out.append(f"{indent}{node} [label={_quote(op.name)}];")
        for v in op.operands:
            edge(v, node)
        for res in op.results:
            source[res] = node

    body: list[str] = []
    for op in block.ops:
        if op is ret:
            continue
        draw_op(op, "  ", body)
    lines.extend(body)
    for name, value in zip(output_names, results):
        node = new_id("out")
        lines.append(f"  {node} [label={_quote(name)}, shape=house, fillcolor=\"#bbf7d0\"];")
        edge(value, node)
    lines.extend(edges)
    lines.append("}")
    return "\n".join(lines) + "\n"


def _inline_constant(op) -> str:
    values = op.value.get_values() if hasattr(op.value, "get_values") else []
    t = op.result.type
    if len(values) == 1:
        return f"{values[0]:.6g}" if isinstance(values[0], float) else str(values[0])
    return f"const {type_label(t)}"


def _main(module: ModuleOp) -> func.FuncOp:
    funcs = [op for op in module.ops if isinstance(op, func.FuncOp)]
    for f in funcs:
        if f.sym_name.data == "main":
            return f
    if funcs:
        return funcs[0]
    raise GraphcError("the module has no func.func to draw")


def _names(main: func.FuncOp, key: str, default: str, count: int) -> list[str]:
    attr = main.attributes.get(key)
    names = [a.data for a in getattr(attr, "data", ())] if attr is not None else []
    if len(names) != count:
        names = [f"{default}{i}" for i in range(count)]
    return names


def load_for_viz(path: str, input_shapes: Mapping[str, tuple[int, ...]] | None = None, *,
                 fusion: bool = True) -> ModuleOp:  # fmt: skip
    """`.mlir`: parsed as is. A model: front end, graph pipeline, and the fusion pipeline (as for cpu)."""
    if path.endswith(".mlir") or path == "-":
        from graphc.context import parse_module

        if path == "-":
            import sys

            return parse_module(sys.stdin.read(), source="<stdin>")
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            raise GraphcError("no such file", source=path) from None
        except (OSError, UnicodeDecodeError) as err:
            raise GraphcError(f"cannot read ({err})", source=path) from None
        return parse_module(text, source=path)
    from graphc.frontends import import_model
    from graphc.passes import DEFAULT_PIPELINE, FUSION_PIPELINE
    from graphc.pipeline import run_pipeline

    program = import_model(path, input_shapes={k: tuple(v) for k, v in (input_shapes or {}).items()})
    run_pipeline(program, DEFAULT_PIPELINE)
    if fusion:
        run_pipeline(program, FUSION_PIPELINE)
    return program.module


def render(dot_text: str, fmt: str = "svg") -> bytes:
    """Runs Graphviz's `dot -T<fmt>`; a one-line error if it is not installed or fails."""
    exe = shutil.which("dot")
    if exe is None:
        raise GraphcError("Graphviz's 'dot' is not installed: install it (Debian/Ubuntu: apt-get install graphviz) "
                          "or write the DOT text with -o FILE.dot")  # fmt: skip
    try:
        done = subprocess.run([exe, f"-T{fmt}"], input=dot_text.encode(), capture_output=True, timeout=600)
    except subprocess.TimeoutExpired:
        raise GraphcError("Graphviz's 'dot' took more than 10 minutes") from None
    if done.returncode != 0:
        message = " ".join(done.stderr.decode(errors="replace").split())
        raise GraphcError(f"Graphviz's 'dot' failed: {message}")
    return done.stdout


def html_page(svg: str, title: str) -> str:
    start = svg.find("<svg")
    svg = svg[start:] if start >= 0 else svg
    escaped = title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
        f"<title>{escaped}</title>"
        "<style>body{margin:0;font-family:sans-serif}svg{display:block}</style></head>\n"
        f"<body>\n{svg}\n</body></html>\n"
    )


def write_viz(dot_text: str, out: str, title: str = "graphc") -> None:
    """Writes `out` by its extension: .dot/.gv (text), .svg/.png/.pdf (dot), .html (SVG in a page)."""
    ext = os.path.splitext(out)[1].lower()
    if ext in TEXT:
        data = dot_text.encode()
    elif ext in RENDERED:
        data = render(dot_text, RENDERED[ext])
    elif ext in (".html", ".htm"):
        data = html_page(render(dot_text, "svg").decode(), title).encode()
    else:
        raise GraphcError(f"cannot tell the format from '{out}': use .svg, .html, .png, .pdf or .dot")
    try:
        with open(out, "wb") as f:
            f.write(data)
    except OSError as err:
        raise GraphcError(f"cannot write ({err.strerror})", source=out) from None


def cmd_viz(args) -> int:
    from graphc.cli import parse_shape_spec

    shapes = dict(parse_shape_spec(s) for s in args.input_shape)
    module = load_for_viz(args.model, shapes, fusion=not args.no_fusion)
    title = os.path.basename(args.model)
    write_viz(to_dot(module, title=title), args.output, title=title)
    if not args.quiet:
        print(f"wrote {args.output}")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("viz", help="draw the graph (fusion regions as clusters) with Graphviz")
    p.add_argument("model", help="a model (.pb) or MLIR text (.mlir, - for stdin)")
    p.add_argument("-o", "--output", required=True, help="graph.svg, graph.html, graph.png, graph.pdf or graph.dot")
    p.add_argument("--input-shape", action="append", default=[], metavar="NAME=DxDx…",
                   help="specialise an input's shape (needed for unknown dimensions); repeatable")  # fmt: skip
    p.add_argument("--no-fusion", action="store_true", help="draw the graph before the fusion passes")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(fn=cmd_viz)

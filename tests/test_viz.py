"""`graphc viz`: DOT structure always; SVG/HTML rendering only where Graphviz's `dot` is installed."""

import os
import re
import shutil

import pytest

from graphc import cli
from graphc.dialects.fusion import RegionOp
from graphc.viz import load_for_viz, to_dot

MLP = os.path.join(os.path.dirname(__file__), "fixtures", "tf", "mlp.pb")
needs_dot = pytest.mark.skipif(shutil.which("dot") is None,
                               reason="Graphviz's dot is not installed (apt-get install graphviz)")


@pytest.fixture(scope="module")
def fused():
    module = load_for_viz(MLP, {"x": (4, 20)})
    return module, to_dot(module, title="mlp")


def test_fusion_regions_are_labelled_clusters(fused):
    module, dot = fused
    regions = [op for op in module.walk() if isinstance(op, RegionOp)]
    assert regions
    clusters = re.findall(r'subgraph "cluster_(fusion_\d+)"', dot)
    assert clusters == [r.region_name for r in regions]
    for region in regions:
        assert f'label="{region.region_name} ({region.kind_name})";' in dot
    assert dot.startswith('digraph "mlp" {') and dot.rstrip().endswith("}")
    assert dot.count("{") == dot.count("}")


def test_ops_inputs_outputs_and_shaped_edges(fused):
    module, dot = fused
    assert 'label="x\\n4x20xf32", shape=invhouse' in dot
    assert re.search(r'out\d+ \[label="Identity", shape=house', dot)
    assert 'label="graph.matmul"' in dot and 'label="graph.relu"' in dot
    edges = re.findall(r'^  (\w+) -> (\w+) \[label="([^"]+)"\];$', dot, re.M)
    assert ("4x64xf32") in {label for _, _, label in edges}
    assert any(src.startswith("in") and label == "4x20xf32" for src, _, label in edges)
    assert any(dst.startswith("out") and label == "4x10xf32" for _, dst, label in edges)
    assert all(re.fullmatch(r"(\d+x)*[a-z]+\d*", label) for _, _, label in edges)
    # every edge connects declared nodes
    declared = set(re.findall(r"^\s*(\w+) \[label=", dot, re.M))
    assert all(s in declared and d in declared for s, d, _ in edges)


def test_unfused_graph_has_no_clusters():
    dot = to_dot(load_for_viz(MLP, {"x": (4, 20)}, fusion=False))
    assert "cluster_" not in dot and 'label="graph.relu"' in dot


def test_cli_dot_from_mlir_needs_no_graphviz(fused, tmp_path, monkeypatch, capsys):
    module, _ = fused
    mlir = tmp_path / "fused.mlir"
    mlir.write_text(str(module))
    monkeypatch.setattr(shutil, "which", lambda name: None)
    out = tmp_path / "graph.dot"
    assert cli.main(["viz", str(mlir), "-o", str(out), "-q"]) == 0
    text = out.read_text()
    assert "cluster_fusion_0" in text and 'label="Identity"' in text
    # without dot, rendering is a clear one-line error
    assert cli.main(["viz", str(mlir), "-o", str(tmp_path / "graph.svg")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "graphviz" in err.lower() and ".dot" in err


def test_cli_errors(tmp_path, capsys):
    assert cli.main(["viz", MLP, "-o", str(tmp_path / "graph.txt"), "--input-shape", "x=4x20"]) == 1
    assert "use .svg" in capsys.readouterr().err
    assert cli.main(["viz", MLP, "-o", str(tmp_path / "graph.dot")]) == 1
    assert "--input-shape" in capsys.readouterr().err
    assert cli.main(["viz", str(tmp_path / "nope.mlir"), "-o", str(tmp_path / "graph.dot")]) == 1
    assert "no such file" in capsys.readouterr().err


@needs_dot
def test_cli_renders_svg_and_html(tmp_path):
    svg, html = tmp_path / "graph.svg", tmp_path / "graph.html"
    assert cli.main(["viz", MLP, "-o", str(svg), "--input-shape", "x=4x20", "-q"]) == 0
    text = svg.read_text()
    assert "<svg" in text and "fusion_0 (matmul)" in text and "4x64xf32" in text
    assert cli.main(["viz", MLP, "-o", str(html), "--input-shape", "x=4x20", "-q"]) == 0
    page = html.read_text()
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "<?xml" not in page

"""Graphviz diagrams: boxes, merged in-place layers, shapes on edges, SE clusters, stage filter, valid files."""

from __future__ import annotations

import re

import pytest
from view_helpers import assert_pdf, assert_svg, official, png_size

from senet_proto.caffe import read_prototxt
from senet_proto.errors import UsageError
from senet_proto.view.draw import build_graph, describe, render


@pytest.fixture(scope="module")
def r50():
    return read_prototxt(official("SE-ResNet-50"))


def _all_nodes(graph) -> list:
    nodes = list(graph.get_nodes())
    for sub in graph.get_subgraphs():
        nodes += _all_nodes(sub)
    return nodes


def _clusters(graph, prefix: str) -> list:
    out = []
    for sub in graph.get_subgraphs():
        if sub.get_name().strip('"').startswith(prefix):
            out.append(sub)
        out += _clusters(sub, prefix)
    return out


def test_whole_net_boxes_merge_in_place_layers(r50) -> None:
    g = build_graph(r50)
    boxes = [n for n in _all_nodes(g) if re.fullmatch(r"n\d+", n.get_name())]
    ordinary = [ly for ly in r50.layer if list(ly.top) != list(ly.bottom)]
    assert len(boxes) == len(ordinary)  # one box per ordinary layer; BatchNorm/Scale/ReLU/Sigmoid merged
    labels = "".join(n.get("label") for n in boxes)
    assert "+ BatchNorm, Scale, ReLU" in labels and "+ Sigmoid" in labels
    assert len(_clusters(g, "cluster_se_")) == 16
    assert {c.get("label").strip('"') for c in _clusters(g, "cluster_stage_")} == {
        "input", "conv1", "conv2_x", "conv3_x", "conv4_x", "conv5_x", "classifier"}


def test_edges_carry_shapes(r50) -> None:
    g = build_graph(r50, stages=["conv5_x"])
    labels = {e.get("label").strip('" ') for e in g.get_edges()}
    assert {"2048×7×7", "512×7×7", "2048×1×1", "128×1×1", "1024×14×14"} <= labels


def test_stage_filter_keeps_only_that_stage(r50) -> None:
    g = build_graph(r50, stages=["conv3_x"])
    boxes = [n for n in _all_nodes(g) if re.fullmatch(r"n\d+", n.get_name())]
    assert boxes and all("conv3_" in n.get("label") for n in boxes)
    externals = [n for n in _all_nodes(g) if n.get_name().startswith("x_")]
    assert len(externals) == 1 and "conv2_3" in externals[0].get("label")  # the stage's input, from conv2_x
    assert len(_clusters(g, "cluster_se_")) == 4


def test_unknown_stage_names_the_real_ones(r50) -> None:
    with pytest.raises(UsageError, match=r"no stage 'conv9_x'.*conv2_x"):
        build_graph(r50, stages=["conv9_x"])


@pytest.mark.parametrize(("layer", "text"), [
    ('layer { name: "c" type: "Convolution" convolution_param { num_output: 64 kernel_size: 3 stride: 2 group: 32 } }',
     "3×3/2, 64, group 32"),
    ('layer { name: "c" type: "Convolution" convolution_param { num_output: 8 kernel_h: 1 kernel_w: 7 } }', "1×7/1, 8"),
    ('layer { name: "p" type: "Pooling" pooling_param { pool: MAX kernel_size: 3 stride: 2 } }', "MAX 3×3/2"),
    ('layer { name: "p" type: "Pooling" pooling_param { pool: AVE global_pooling: true } }', "AVE global"),
    ('layer { name: "f" type: "InnerProduct" inner_product_param { num_output: 1000 } }', "1000"),
])
def test_describe(layer: str, text: str) -> None:
    from senet_proto.caffe import parse_prototxt

    assert describe(parse_prototxt(layer).layer[0]) == text


def test_rendered_files_are_valid(r50) -> None:
    g = build_graph(r50, stages=["conv2_x"], rankdir="LR")
    svg = assert_svg(render(g, "svg"))
    assert "conv2_1_global_pool" in "".join(svg.itertext())
    w, h = png_size(render(g, "png"))
    assert w > h  # left to right
    assert_pdf(render(g, "pdf"))
    with pytest.raises(UsageError):
        render(g, "gif")


def _archs() -> list[str]:
    try:
        from senet_proto.generator import ARCHITECTURES
    except ImportError:
        return ["generator-missing"]
    return sorted(ARCHITECTURES)


@pytest.mark.parametrize("arch", _archs())
def test_every_architecture_draws(arch: str) -> None:
    from senet_proto.analysis import summarize
    from senet_proto.generator import generate

    net = generate(arch)
    g = build_graph(net)
    boxes = [n for n in _all_nodes(g) if re.fullmatch(r"n\d+", n.get_name())]
    assert len(boxes) == sum(1 for ly in net.layer if list(ly.top) != list(ly.bottom))
    assert len(_clusters(g, "cluster_se_")) == summarize(net).se_blocks > 0
    stage = "inception_4a" if "inception" in arch else "conv3_x"
    assert_svg(render(build_graph(net, stages=[stage]), "svg"))

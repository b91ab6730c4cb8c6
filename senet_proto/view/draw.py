"""Graphviz diagrams of a net, drawn the way Netscope does.

One box per ordinary layer; in-place layers (BatchNorm, Scale, ReLU, Sigmoid with top == bottom) are merged
into the box of the layer that produced their blob. Edges carry the blob's shape (without the batch axis
when it is 1). Each SE block sits in a shaded cluster inside its stage's cluster. ``stages`` keeps only
some stages; blobs coming from elsewhere appear as small ellipses.
"""

from __future__ import annotations

import html
import logging
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..caffe import caffe_pb2
from ..caffe.validate import layers_for_phase
from ..errors import OutputError, SenetProtoError, UsageError
from ..optional import import_optional
from ..progress import progress

log = logging.getLogger("senet_proto.view")

FORMATS = ("svg", "png", "pdf")

# fill colours by layer type (Netscope-like palette)
COLORS = {
    "Convolution": "#3d7ab8", "InnerProduct": "#6a4c93", "Pooling": "#c0392b", "Input": "#4d4d4d",
    "Concat": "#d08a00", "Eltwise": "#d08a00", "Axpy": "#d08a00", "Scale": "#2e8b57", "Reshape": "#7f8c8d",
    "Flatten": "#7f8c8d", "Softmax": "#8e44ad", "Dropout": "#95a5a6", "ReLU": "#5d6d7e", "Sigmoid": "#5d6d7e",
}
DEFAULT_COLOR = "#566573"


@dataclass
class _Node:
    id: str
    layer: caffe_pb2.LayerParameter
    index: int
    merged: list[caffe_pb2.LayerParameter] = field(default_factory=list)


def _fmt_shape(shape: Sequence[int] | None) -> str:
    if not shape:
        return ""
    dims = list(shape[1:]) if len(shape) > 1 and shape[0] == 1 else list(shape)
    return "×".join(str(d) for d in dims)


def _xy(values: Sequence[int], h: int | None = None, w: int | None = None) -> str:
    if h is not None and w is not None:
        return f"{h}×{w}" if h != w else str(h)
    vals = list(values)
    return "×".join(map(str, vals)) if len(set(vals)) > 1 else (str(vals[0]) if vals else "")


def describe(layer: caffe_pb2.LayerParameter) -> str:
    """A short parameter summary: ``3×3/2 ×64 g32`` for a convolution, ``MAX 3/2`` for a pooling..."""
    t = layer.type
    if t == "Convolution":
        p = layer.convolution_param
        k = _xy(p.kernel_size, p.kernel_h if p.HasField("kernel_h") else None,
                p.kernel_w if p.HasField("kernel_w") else None)
        s = _xy(p.stride or [1], p.stride_h if p.HasField("stride_h") else None,
                p.stride_w if p.HasField("stride_w") else None)
        k = f"{k}×{k}" if "×" not in k else k
        out = f"{k}/{s}, {p.num_output}"
        return out + (f", group {p.group}" if p.group != 1 else "")
    if t == "Pooling":
        p = layer.pooling_param
        kind = caffe_pb2.PoolingParameter.PoolMethod.Name(p.pool)
        if p.global_pooling:
            return f"{kind} global"
        k = _xy([p.kernel_size], p.kernel_h if p.HasField("kernel_h") else None,
                p.kernel_w if p.HasField("kernel_w") else None)
        return f"{kind} {k}×{k}/{p.stride}" if "×" not in k else f"{kind} {k}/{p.stride}"
    if t == "InnerProduct":
        return str(layer.inner_product_param.num_output)
    if t == "Eltwise":
        return caffe_pb2.EltwiseParameter.EltwiseOp.Name(layer.eltwise_param.operation)
    if t == "Dropout":
        return f"{layer.dropout_param.dropout_ratio:g}"
    return ""


def _label(node: _Node, color: str) -> str:
    ly = node.layer
    name = html.escape(ly.name)
    detail = describe(ly)
    rows = [f'<tr><td bgcolor="{color}"><font color="white"><b>{html.escape(ly.type)}</b>'
            f'{" " + html.escape(detail) if detail else ""}</font></td></tr>',
            f'<tr><td><font point-size="10">{name}</font></td></tr>']
    if node.merged:
        types = ", ".join(html.escape(m.type) for m in node.merged)
        rows.append(f'<tr><td><font point-size="9" color="#555555">+ {types}</font></td></tr>')
    return f'<<table border="0" cellborder="0" cellspacing="0" cellpadding="3">{"".join(rows)}</table>>'


def build_graph(net: caffe_pb2.NetParameter, rankdir: str = "TB", stages: Sequence[str] = (),
                input_shape: Sequence[int] | None = None) -> Any:
    """A ``pydot.Dot`` of ``net`` (TEST phase)."""
    pydot = import_optional("pydot", what="draw")
    if rankdir not in ("TB", "LR", "BT", "RL"):
        raise UsageError(f"rankdir must be TB or LR, not {rankdir!r}")
    if input_shape is not None:
        from ..analysis.shapes import with_input_shape

        net = with_input_shape(net, input_shape)
    layers, stage_of, keep, se_of = _analyse(net, stages)
    graph = _new_graph(pydot, net.name, rankdir)
    nodes, external, edges = _walk(pydot, layers, stage_of, keep)
    for ext in external.values():
        graph.add_node(ext)
    _add_boxes(pydot, graph, nodes, stage_of, se_of)
    for src_id, dst_id, label in edges:
        graph.add_edge(pydot.Edge(src_id, dst_id, label=f" {label}" if label else ""))
    graph.senet_proto_boxes = len(nodes)  # for the caller's size warning; not a Graphviz attribute
    log.info("graph: %d boxes (%d layers merged in place), %d edges", len(nodes),
             sum(len(n.merged) for n in nodes), len(edges))
    return graph


def _analyse(net: caffe_pb2.NetParameter, stages: Sequence[str]) -> tuple[list[Any], list[str], set[str],
                                                                           dict[int, int]]:
    """The layers with their shapes, each layer's stage, the stages to draw and each SE layer's block."""
    from ..analysis.shapes import infer_layers
    from ..analysis.stages import assign_stages, se_layers

    layers = infer_layers(net)
    stage_of = assign_stages(layers)
    known = list(dict.fromkeys(stage_of))
    unknown = [s for s in stages if s not in known]
    if unknown:
        raise UsageError(f"no stage {', '.join(map(repr, unknown))} in this net; its stages: {', '.join(known)}")
    keep = set(stages) if stages else set(known)
    se_of: dict[int, int] = {}
    for b, block in enumerate(se_layers(layers)):
        for i in block:
            se_of[i] = b
    assert len(layers) == len(layers_for_phase(net))
    return layers, stage_of, keep, se_of


def _new_graph(pydot: Any, name: str, rankdir: str) -> Any:
    graph: Any = pydot.Dot(graph_type="digraph", rankdir=rankdir, fontname="Helvetica", nodesep="0.25",
                      ranksep="0.35", bgcolor="white", label=html.escape(name or ""), labelloc="t",
                      fontsize="20")
    graph.set_node_defaults(shape="plain", fontname="Helvetica")
    graph.set_edge_defaults(fontname="Helvetica", fontsize="9", color="#555555", fontcolor="#333333",
                            arrowsize="0.6")
    return graph


def _walk(pydot: Any, layers: list[Any], stage_of: list[str], keep: set[str]
          ) -> tuple[list[_Node], dict[str, Any], list[tuple[str, str, str]]]:
    """One box per layer (in-place layers merged into the box holding their blob), the dashed nodes of blobs
    coming from outside the drawn stages, and the edges labelled with the shapes each layer reads."""
    holder: dict[str, _Node] = {}  # blob -> node currently holding it
    nodes: list[_Node] = []
    external: dict[str, Any] = {}
    edges: list[tuple[str, str, str]] = []
    for i, ls in enumerate(progress(layers, desc="layers", unit="layer")):
        ly = ls.layer
        if ls.in_place and ly.top[0] in holder:
            node = holder[ly.top[0]]
            node.merged.append(ly)
            continue
        node = _Node(id=f"n{i}", layer=ly, index=i)
        inside = stage_of[i] in keep
        for j, b in enumerate(ly.bottom):
            src = holder.get(b)
            if not inside:
                continue
            label = _fmt_shape(ls.bottoms[j])
            if src is not None and stage_of[src.index] in keep:
                edges.append((src.id, node.id, label))
            else:
                ext_id = f"x_{len(external)}" if b not in external else external[b].get_name()
                if b not in external:
                    where = stage_of[src.index] if src is not None else "input"
                    external[b] = pydot.Node(ext_id, label=f"{b}\n({where})", shape="ellipse", style="dashed",
                                             fontsize="9")
                edges.append((ext_id, node.id, label))
        for top in ly.top:
            holder[top] = node
        if inside:
            nodes.append(node)
    return nodes, external, edges


def _add_boxes(pydot: Any, graph: Any, nodes: list[_Node], stage_of: list[str], se_of: dict[int, int]) -> None:
    """Each box into its stage's cluster, and into its SE block's cluster inside that."""
    stage_clusters: dict[str, Any] = {}
    se_clusters: dict[int, Any] = {}
    for node in nodes:
        color = COLORS.get(node.layer.type, DEFAULT_COLOR)
        pnode = pydot.Node(node.id, label=_label(node, color), tooltip=html.escape(node.layer.name))
        st = stage_of[node.index]
        if st not in stage_clusters:
            stage_clusters[st] = pydot.Cluster(f"stage_{len(stage_clusters)}", label=html.escape(st),
                                               style="rounded,dashed", color="#999999", fontsize="14",
                                               fontcolor="#666666")
            graph.add_subgraph(stage_clusters[st])
        parent = stage_clusters[st]
        if node.index in se_of:
            b = se_of[node.index]
            if b not in se_clusters:
                se_clusters[b] = pydot.Cluster(f"se_{b}", label="SE", style="rounded,filled", fillcolor="#fff4d6",
                                               color="#e0a800", fontcolor="#b07d00", fontsize="11")
                parent.add_subgraph(se_clusters[b])
            parent = se_clusters[b]
        pnode.set("shape", "box")
        pnode.set("style", "rounded")
        pnode.set("margin", "0")
        parent.add_node(pnode)


def render(graph: Any, fmt: str) -> bytes:
    """Run Graphviz's dot; ``fmt`` is svg, png or pdf."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown diagram format {fmt!r} (use {', '.join(FORMATS)})")
    if shutil.which("dot") is None:
        raise SenetProtoError("Graphviz's 'dot' program is not installed (Debian/Ubuntu: apt-get install graphviz)")
    try:
        data: bytes = graph.create(prog="dot", format=fmt)
    except Exception as e:  # pydot raises plain exceptions with dot's stderr
        raise OutputError(f"Graphviz failed: {str(e).strip().splitlines()[-1] if str(e).strip() else e}") from None
    return data

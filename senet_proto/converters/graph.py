"""A converter's view of a net: the TEST-phase layers as nodes with their weights, and graph passes.

``build_graph(caffenet)`` gives ``Graph``: inputs (from ``Input`` layers), nodes in
Caffe's execution order, outputs (Caffe's rule: tops no later layer consumes,
sorted by name as Caffe's ``std::set``). Blob *versions* (a name plus the node
that last wrote it) make in-place layers explicit: ``readers`` says which nodes
read each version.

Passes (shared by every target):
- ``merge_batchnorm_scale``: a BatchNorm whose output only feeds the one-bottom
  channel Scale right after it becomes one BatchNorm node with gamma/beta.
- ``fold_batchnorm``: a (merged) BatchNorm with global statistics right after a
  Convolution whose output only it reads is folded into the convolution; with
  ``lazy=True`` the folded weights are computed only when used (``lazy.LazyBlobs``),
  so a streaming writer never holds them all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from ..caffe import caffe_pb2
from ..caffe.layers.norm import bn_statistics, uses_global_stats
from ..caffe.layers.shape import input_layer_shapes
from ..errors import CaffemodelError, PrototxtError
from .lazy import LazyArray, LazyBlobs
from .loader import CaffeNet

INPUT = -1  # producer index of a net input

# Types whose output may share memory with their (first) bottom, as in Caffe (ShareData).
VIEW_TYPES = frozenset({"Reshape", "Flatten", "Split"})


@dataclass
class Node:
    layer: caffe_pb2.LayerParameter
    blobs: Sequence[np.ndarray]  # a list, or LazyBlobs (fold_batchnorm(lazy=True)) computing some on access
    bottoms: tuple[str, ...]
    tops: tuple[str, ...]
    attrs: dict[str, Any] = field(default_factory=dict)
    inplace: bool = False  # may overwrite its bottom's memory (Caffe runs it in place, and that is safe here)
    merged: tuple[str, ...] = ()  # the Caffe layers this node stands for, when a pass merged several

    @property
    def covers(self) -> tuple[str, ...]:
        return self.merged or (self.name,)

    @property
    def name(self) -> str:
        return str(self.layer.name)

    @property
    def type(self) -> str:
        return str(self.layer.type)


@dataclass
class Graph:
    inputs: dict[str, tuple[int, ...]]
    nodes: list[Node]
    outputs: list[str] = field(default_factory=list)
    name: str = ""

    def versions(self) -> tuple[list[list[int]], dict[tuple[str, int], list[int]]]:
        """Per node, the producer of each bottom; and (blob, producer) -> reading node indices."""
        current = dict.fromkeys(self.inputs, INPUT)
        producers: list[list[int]] = []
        readers: dict[tuple[str, int], list[int]] = {}
        for i, node in enumerate(self.nodes):
            prod = []
            for b in node.bottoms:
                if b not in current:
                    raise PrototxtError(f"Unknown bottom blob '{b}' (layer '{node.name}')")
                prod.append(current[b])
                readers.setdefault((b, current[b]), []).append(i)
            producers.append(prod)
            for t in node.tops:
                current[t] = i
        return producers, readers

    def refresh(self) -> None:
        """Recompute outputs and in-place flags after a pass changed the nodes."""
        available: set[str] = set(self.inputs)
        for node in self.nodes:
            available.difference_update(node.bottoms)
            available.update(node.tops)
        self.outputs = sorted(available)
        producers, _ = self.versions()
        aliases_input: dict[str, bool] = dict.fromkeys(self.inputs, True)
        for i, node in enumerate(self.nodes):
            same = len(node.tops) == 1 and len(node.bottoms) >= 1 and node.tops[0] == node.bottoms[0]
            node.inplace = bool(same and producers[i][0] != INPUT and not aliases_input.get(node.bottoms[0], False))
            view = bool(node.type in VIEW_TYPES and node.bottoms and aliases_input.get(node.bottoms[0], False))
            for t in node.tops:
                aliases_input[t] = view


def input_shapes(layers: list[caffe_pb2.LayerParameter]) -> dict[str, tuple[int, ...]]:
    """The Input layers' tops and their declared shapes (``()`` where none is declared)."""
    return {top: shape for ly in layers if ly.type == "Input"
            for top, shape in zip(ly.top, input_layer_shapes(ly), strict=True)}


def build_graph(caffenet: CaffeNet, phase: int = caffe_pb2.TEST) -> Graph:
    layers = caffenet.layers(phase)
    nodes = [
        Node(layer=ly, blobs=list(caffenet.weights.get(ly.name, [])), bottoms=tuple(ly.bottom), tops=tuple(ly.top))
        for ly in layers
        if ly.type != "Input"
    ]
    g = Graph(inputs=input_shapes(layers), nodes=nodes, name=caffenet.net.name)
    g.refresh()
    return g


def batchnorm_stats(node: Node) -> tuple[np.ndarray, np.ndarray]:
    """The mean and variance Caffe uses (the catalogue's ``bn_statistics``), or those a graph pass left."""
    if "mean" in node.attrs:
        return node.attrs["mean"], node.attrs["var"]
    if len(node.blobs) != 3:
        raise CaffemodelError(f"layer '{node.name}' (BatchNorm): needs 3 blobs, has {len(node.blobs)}")
    return bn_statistics(*node.blobs)


def _is_channel_scale(node: Node, channels: int) -> bool:
    if node.type != "Scale" or len(node.bottoms) != 1 or not node.blobs:
        return False
    p = node.layer.scale_param
    axis = p.axis if p.HasField("axis") else 1
    num_axes = p.num_axes if p.HasField("num_axes") else 1
    return axis == 1 and num_axes == 1 and node.blobs[0].shape == (channels,)


def _merge_pairs(g: Graph, merge: Callable[[Node, Node], Node | None]) -> None:
    """Walk the nodes in order; where a node has one top that the next node alone reads, replace the pair
    by ``merge(node, next)``, unless that returns None (then both stay)."""
    _, readers = g.versions()
    out: list[Node] = []
    skip = False
    for i, node in enumerate(g.nodes):
        if skip:
            skip = False
            continue
        nxt = g.nodes[i + 1] if i + 1 < len(g.nodes) else None
        merged = None
        if nxt is not None and len(node.tops) == 1 and readers.get((node.tops[0], i)) == [i + 1]:
            merged = merge(node, nxt)
        if merged is None:
            out.append(node)
        else:
            out.append(merged)
            skip = True
    g.nodes = out
    g.refresh()


def _merge_batchnorm_scale_pair(node: Node, nxt: Node) -> Node | None:
    if not (
        node.type == "BatchNorm" and "gamma" not in node.attrs
        and len(node.blobs) == 3 and _is_channel_scale(nxt, node.blobs[0].size)
        and nxt.bottoms[0] == node.tops[0]
    ):
        return None
    mean, var = batchnorm_stats(node)
    merged = Node(layer=node.layer, blobs=node.blobs, bottoms=node.bottoms, tops=nxt.tops,
                  attrs=dict(node.attrs), merged=(*node.covers, *nxt.covers))
    merged.attrs.update(mean=mean, var=var, gamma=nxt.blobs[0].reshape(-1),
                        beta=nxt.blobs[1].reshape(-1) if len(nxt.blobs) > 1 else None,
                        scale_layer=nxt.name)
    return merged


def merge_batchnorm_scale(g: Graph) -> None:
    """BatchNorm followed by the channel Scale that alone reads it -> one BatchNorm node with affine weights."""
    _merge_pairs(g, _merge_batchnorm_scale_pair)


def folded_weight(w: np.ndarray, s: np.ndarray, i: int = 0, j: int | None = None) -> np.ndarray:
    """Rows ``i:j`` of ``w`` times ``s`` per output channel (axis 0), computed in float64, rounded to float32.

    The same values as ``(w.astype(np.float64) * s[:, None, ...]).astype(np.float32)`` (float32 -> float64 is
    exact, then one float64 product and one rounding per element) without the two float64 temporaries.
    """
    w, s = w[i:j], s[i:j]
    out = np.empty(w.shape, np.float32)
    np.multiply(w, s.reshape((-1,) + (1,) * (w.ndim - 1)), out=out, dtype=np.float64, casting="same_kind")
    return out


def _fold_batchnorm_pair(node: Node, nxt: Node, lazy: bool = False) -> Node | None:
    if not (
        node.type == "Convolution" and nxt.type == "BatchNorm"
        and uses_global_stats(nxt.layer) and nxt.bottoms == node.tops and node.blobs
        and (nxt.blobs or "mean" in nxt.attrs)
    ):
        return None
    mean, var = batchnorm_stats(nxt)
    w = node.blobs[0]
    if mean.shape[0] != w.shape[0]:
        return None
    eps = float(nxt.layer.batch_norm_param.eps)
    gamma = nxt.attrs.get("gamma")
    beta = nxt.attrs.get("beta")
    g64 = np.ones_like(mean, dtype=np.float64) if gamma is None else gamma.astype(np.float64)
    b64 = np.zeros_like(mean, dtype=np.float64) if beta is None else beta.astype(np.float64)
    s = g64 / np.sqrt(var.astype(np.float64) + eps)
    bias = node.blobs[1].astype(np.float64).reshape(-1) if len(node.blobs) > 1 else 0.0
    b_f = ((bias - mean.astype(np.float64)) * s + b64).astype(np.float32)
    w_f = LazyArray(tuple(w.shape), np.dtype(np.float32), partial(folded_weight, w, s), (w,))  # w.ndim >= 1
    blobs: Sequence[np.ndarray] = LazyBlobs([w_f, b_f]) if lazy else [w_f.value(), b_f]
    fused = Node(layer=node.layer, blobs=blobs, bottoms=node.bottoms, tops=nxt.tops,
                 attrs=dict(node.attrs), merged=(*node.covers, *nxt.covers))
    fused.attrs["folded_bn"] = nxt.name
    return fused


def fold_batchnorm(g: Graph, *, lazy: bool = False) -> None:
    """Convolution followed by a global-statistics BatchNorm that alone reads it -> one convolution.

    ``lazy``: each folded weight is computed when used (``LazyBlobs``: on each access, or once by a streaming
    writer through ``lazy.blob_tensor``) instead of now; the values are the same to the bit."""
    _merge_pairs(g, partial(_fold_batchnorm_pair, lazy=lazy))

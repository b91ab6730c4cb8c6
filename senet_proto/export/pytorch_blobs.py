"""A ``convert --to pytorch`` file back to Caffe blobs: its embedded net, and its state dict read through the
module layout (``torch_layout``) backwards. BatchNorm gets factor 1 (the module keeps mean and variance)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..converters.graph import Node
from ..converters.loader import CaffeNet
from ..converters.pytorch_io import read_embedded_net
from ..converters.torch_layout import module_graph, module_keys
from ..errors import CaffemodelError, UsageError


def _node_blobs(node: Node, state: dict[str, np.ndarray], key: str,
                shapes: dict[str, list[list[int]]]) -> dict[str, list[np.ndarray]]:
    """The Caffe blobs of the layer(s) a module node stands for (the inverse of ``torch_layout._node_state``)."""
    def get(name: str) -> np.ndarray:
        return state[f"{key}.{name}"]

    t = node.type
    if t in ("Convolution", "InnerProduct"):
        w = get("weight")
        if t == "InnerProduct" and node.layer.inner_product_param.transpose:
            w = np.ascontiguousarray(w.T)
        blobs = [w.reshape(shapes[node.name][0])]
        if len(shapes[node.name]) > 1:
            blobs.append(get("bias").reshape(shapes[node.name][1]))
        return {node.name: blobs}
    if t == "BatchNorm":
        n = get("running_mean").shape
        out = {node.name: [get("running_mean"), get("running_var"), np.ones(1, np.float32)]}
        scale = node.attrs.get("scale_layer")
        if scale:
            out[scale] = [get("weight").reshape(n), get("bias").reshape(n)][: len(shapes[scale])]
        return out
    if t in ("Scale", "Bias") and node.blobs:
        names = ["weight", "bias"] if t == "Scale" and len(node.bottoms) == 1 else ["bias"]
        return {node.name: [get(n).reshape(s) for n, s in zip(names, shapes[node.name], strict=False)]}
    return {}


def caffenet_from_pytorch_file(path: Path) -> tuple[CaffeNet, dict[str, str]]:
    """The Caffe net and blobs a ``--to pytorch`` file was made from (BatchNorm factor 1), and its metadata."""
    from safetensors.numpy import load_file

    meta, net, shapes = read_embedded_net(path)
    if meta.get("fuse_bn") == "true":
        raise UsageError(f"{path}: its BatchNorm is folded into the convolutions (--fuse-bn); the release's nets "
                         "keep BatchNorm + Scale: export a file converted without --fuse-bn")
    zeros = {name: [np.zeros(s, dtype=np.float32) for s in blob_shapes] for name, blob_shapes in shapes.items()}
    graph = module_graph(CaffeNet(net=net, weights=zeros, source=str(path)))
    state = load_file(str(path))
    weights: dict[str, list[np.ndarray]] = {}
    try:
        for key, node in zip(module_keys(graph), graph.nodes, strict=True):
            weights.update(_node_blobs(node, state, key, shapes))
    except (KeyError, ValueError) as e:
        raise CaffemodelError(f"{path}: weights do not fit the embedded net ({e})") from None
    return CaffeNet(net=net, weights=weights, source=str(path)), meta

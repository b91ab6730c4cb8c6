"""Caffe -> ONNX (``senet-proto convert --to onnx``): a clean graph built directly with onnx.helper.

Blob names come from Caffe (the final value of a blob keeps its name), Axpy is Mul + Add, BatchNorm and
its Scale are one BatchNormalization, and pooling follows Caffe's rounding. Opset 17; the model passes
``onnx.checker.check_model(full_check=True)`` and strict shape inference. Shapes are static (the
prototxt's input shape) except the batch: the graph input's first dimension is the symbolic ``N`` when every
batch-dependent dimension of every blob is the batch itself (true for classification nets; otherwise the model
keeps the prototxt's batch size). ``build_onnx(..., input_shape=...)`` exports for another input shape.

``build_onnx`` returns an in-memory ModelProto; ``export_onnx`` (``convert --to onnx``) writes the same model
without ever holding its weights in memory (``stream.py``): one .onnx file, or with ``--external-data`` ONNX's
external-data format (``OUT`` plus ``OUT.data``, needed above protobuf's 2 GiB).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import onnx
from onnx import helper

from ...analysis.shapes import infer_shapes
from ...caffe import caffe_pb2
from ...caffe.layers import canonical_axis
from ...errors import PrototxtError, SenetProtoError
from ..conventions import ConvertOptions, metadata
from ..graph import build_graph, fold_batchnorm, merge_batchnorm_scale
from ..loader import CaffeNet
from ..registry import check_supported
from .builder import BATCH, Initializer, OnnxBuilder, value_info
from .layers import ONNX_CONVERTERS
from .stream import data_path, write_onnx

OPSET = 17


def _deploy_net(caffenet: CaffeNet, input_shape: Sequence[int] | None) -> caffe_pb2.NetParameter:
    net = caffe_pb2.NetParameter()
    net.name = caffenet.net.name
    net.layer.extend(caffenet.layers())
    if input_shape is not None:
        inputs = [ly for ly in net.layer if ly.type == "Input"]
        if len(inputs) != 1 or len(inputs[0].top) != 1:
            raise PrototxtError("input_shape needs a net with exactly one Input layer and top")
        del inputs[0].input_param.shape[:]
        inputs[0].input_param.shape.add().dim.extend(int(d) for d in input_shape)
    return net


def batch_axes(net: caffe_pb2.NetParameter, shapes: dict[str, tuple[int, ...]]) -> dict[str, int] | None:
    """Blob -> the axis holding the batch (-1: none), found by inferring the shapes again with a batch one
    larger; None when the batch cannot be left dynamic (a blob with a dimension that grows with the batch but
    is not the batch, several inputs of different batch sizes, an InnerProduct flattening the batch)."""
    other = caffe_pb2.NetParameter()
    other.CopyFrom(net)
    batch: set[int] = set()
    for layer in other.layer:
        if layer.type != "Input":
            continue
        for spec in layer.input_param.shape:
            if not spec.dim:
                return None
            batch.add(int(spec.dim[0]))
            spec.dim[0] += 1
    if len(batch) != 1:
        return None
    (n,) = batch
    try:
        grown = infer_shapes(other)
    except SenetProtoError:
        return None
    axes: dict[str, int] = {}
    for name, s1 in shapes.items():
        s2 = grown.get(name, ())
        if len(s1) != len(s2):
            return None
        diff = [i for i, (d1, d2) in enumerate(zip(s1, s2, strict=True)) if d1 != d2]
        if len(diff) > 1 or (diff and (s1[diff[0]], s2[diff[0]]) != (n, n + 1)):
            return None
        axes[name] = diff[0] if diff else -1
    for layer in net.layer:
        if layer.type == "InnerProduct":
            axis = canonical_axis(layer.inner_product_param.axis, len(shapes[layer.bottom[0]]), layer)
            if axes[layer.bottom[0]] >= axis:
                return None
    return axes


def build_parts(caffenet: CaffeNet, *, fuse_bn: bool = False, input_shape: Sequence[int] | None = None,
                intermediate: bool = False, dynamic_batch: bool = True,
                lazy: bool = False) -> tuple[onnx.ModelProto, list[Initializer]]:
    """``build_onnx``'s model without its initializers, and the initializers as arrays (not copied; with
    ``lazy``, folded weights are ``LazyArray``s computed when written)."""
    net = _deploy_net(caffenet, input_shape)
    deploy = CaffeNet(net=net, weights=caffenet.weights, source=caffenet.source)
    check_supported(deploy.layers(), ONNX_CONVERTERS)
    shapes = infer_shapes(net)
    g = build_graph(deploy)
    merge_batchnorm_scale(g)
    if fuse_bn:
        fold_batchnorm(g, lazy=lazy)
    b = OnnxBuilder(graph=g, shapes=shapes, batch=batch_axes(net, shapes) if dynamic_batch else None)
    for i, node in enumerate(g.nodes):
        b.index = i
        ONNX_CONVERTERS.lookup(node.layer)(node, b)
    outputs = list(g.outputs)
    if intermediate:
        outputs += sorted({t for node in g.nodes for t in node.tops} - set(outputs))
    graph = helper.make_graph(
        b.nodes,
        net.name or "senet",
        [value_info(name, shapes[name], b.batch_axis(name)) for name in g.inputs],
        [value_info(b.current[name], shapes[name], b.batch_axis(name), doc=name) for name in outputs],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="senet-proto")
    model.ir_version = 8
    return model, b.tensors


def build_onnx(caffenet: CaffeNet, *, fuse_bn: bool = False, input_shape: Sequence[int] | None = None,
               intermediate: bool = False, dynamic_batch: bool = True) -> onnx.ModelProto:
    """The ONNX model of a loaded Caffe net, in memory (every weight copied into it). ``intermediate=True`` also
    outputs every Caffe blob's final value; ``dynamic_batch`` makes the batch dimension the symbolic ``N`` where
    the net allows it (see the module doc)."""
    model, tensors = build_parts(caffenet, fuse_bn=fuse_bn, input_shape=input_shape, intermediate=intermediate,
                                 dynamic_batch=dynamic_batch)
    model.graph.initializer.extend(t.tensor() for t in tensors)
    return model


def output_blobs(model: onnx.ModelProto) -> list[str]:
    """The Caffe blob each graph output holds (its final value), in output order: the output's name, or
    ``blob@layer`` for an input blob a layer overwrote in place (its doc_string then names the blob)."""
    return [o.doc_string or o.name for o in model.graph.output]


def has_dynamic_batch(model: onnx.ModelProto) -> bool:
    return any(d.dim_param == BATCH for i in model.graph.input for d in i.type.tensor_type.shape.dim)


def check_onnx(model: onnx.ModelProto) -> onnx.ModelProto:
    """The checker with full_check and strict shape inference; returns the shape-inferred model."""
    try:
        onnx.checker.check_model(model, full_check=True)
        return onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        raise SenetProtoError(f"the exported ONNX model is invalid (a bug): {str(e).splitlines()[0]}") from None


def export_onnx(caffenet: CaffeNet, out: str | os.PathLike[str], options: ConvertOptions,
                force: bool = False) -> Path:
    """Write the model (``build_onnx``'s, with the conventions as metadata) to ``out``, its weights streamed
    from the caffemodel (``stream.write_onnx``); with ``options.external_data`` they go to ``OUT.data``."""
    model, tensors = build_parts(caffenet, fuse_bn=options.fuse_bn, lazy=True)  # folded weights made one at a time
    meta = metadata(options, Path(caffenet.source).name if caffenet.source else "")
    meta["batch"] = f"dynamic (input dimension '{BATCH}')" if has_dynamic_batch(model) else "static (the prototxt's)"
    helper.set_model_props(model, meta)
    return write_onnx(model, tensors, out, external_data=options.external_data, force=force)


__all__ = ["BATCH", "ONNX_CONVERTERS", "OPSET", "batch_axes", "build_onnx", "build_parts", "check_onnx", "data_path",
           "export_onnx", "has_dynamic_batch", "output_blobs", "write_onnx"]

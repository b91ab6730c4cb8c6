"""Caffe -> ONNX (``senet-proto convert --to onnx``): a clean graph built directly with onnx.helper.

Blob names come from Caffe (the final value of a blob keeps its name), Axpy is Mul + Add, BatchNorm and
its Scale are one BatchNormalization, and pooling follows Caffe's rounding. Opset 17; the model passes
``onnx.checker.check_model(full_check=True)`` and strict shape inference. Shapes are static (the
prototxt's input shape); ``build_onnx(..., input_shape=...)`` exports for another one.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import onnx
from onnx import helper

from ...analysis.shapes import infer_shapes
from ...caffe import caffe_pb2
from ...errors import PrototxtError, SenetProtoError
from ...fsutil import atomic_open
from ..conventions import ConvertOptions, metadata
from ..graph import build_graph, fold_batchnorm, merge_batchnorm_scale
from ..loader import CaffeNet
from ..registry import check_supported
from .builder import OnnxBuilder, value_info
from .layers import ONNX_CONVERTERS

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


def build_onnx(caffenet: CaffeNet, *, fuse_bn: bool = False, input_shape: Sequence[int] | None = None,
               intermediate: bool = False) -> onnx.ModelProto:
    """The ONNX model of a loaded Caffe net. ``intermediate=True`` also outputs every Caffe blob's final value."""
    net = _deploy_net(caffenet, input_shape)
    deploy = CaffeNet(net=net, weights=caffenet.weights, source=caffenet.source)
    check_supported([ly for ly in deploy.layers() if ly.type != "Input"], ONNX_CONVERTERS)
    shapes = infer_shapes(net)
    g = build_graph(deploy)
    merge_batchnorm_scale(g)
    if fuse_bn:
        fold_batchnorm(g)
    b = OnnxBuilder(graph=g, shapes=shapes)
    for i, node in enumerate(g.nodes):
        b.index = i
        ONNX_CONVERTERS.lookup(node.layer)(node, b)
    outputs = list(g.outputs)
    if intermediate:
        outputs += sorted({t for node in g.nodes for t in node.tops} - set(outputs))
    graph = helper.make_graph(
        b.nodes,
        net.name or "senet",
        [value_info(name, shapes[name]) for name in g.inputs],
        [value_info(b.current[name], shapes[name]) for name in outputs],
        initializer=b.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="senet-proto")
    model.ir_version = 8
    return model


def check_onnx(model: onnx.ModelProto) -> onnx.ModelProto:
    """The checker with full_check and strict shape inference; returns the shape-inferred model."""
    try:
        onnx.checker.check_model(model, full_check=True)
        return onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        raise SenetProtoError(f"the exported ONNX model is invalid (a bug): {str(e).splitlines()[0]}") from None


def export_onnx(caffenet: CaffeNet, out: str | os.PathLike[str], options: ConvertOptions,
                force: bool = False) -> Path:
    model = build_onnx(caffenet, fuse_bn=options.fuse_bn)
    check_onnx(model)
    meta = metadata(options, Path(caffenet.source).name if caffenet.source else "")
    helper.set_model_props(model, meta)
    with atomic_open(out, "wb", force=force) as f:
        f.write(model.SerializeToString())
    return Path(out)


__all__ = ["ONNX_CONVERTERS", "OPSET", "build_onnx", "check_onnx", "export_onnx"]

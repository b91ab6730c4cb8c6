"""Small nets built with protobuf for the reference tests (fast in Caffe)."""

from __future__ import annotations

from collections.abc import Sequence

from senet_proto.caffe import caffe_pb2


def _layer(net: caffe_pb2.NetParameter, name: str, type_: str, bottom: Sequence[str], top: Sequence[str]):
    layer = net.layer.add()
    layer.name = name
    layer.type = type_
    layer.bottom.extend(bottom)
    layer.top.extend(top)
    return layer


def conv(net, name, bottom, top, num_output, kernel, pad=0, bias=True):
    layer = _layer(net, name, "Convolution", [bottom], [top])
    p = layer.convolution_param
    p.num_output = num_output
    p.kernel_size.append(kernel)
    if pad:
        p.pad.append(pad)
    p.bias_term = bias
    return layer


def bn_scale(net, blob):
    _layer(net, f"{blob}/bn", "BatchNorm", [blob], [blob]).batch_norm_param.use_global_stats = True
    _layer(net, f"{blob}/bn/scale", "Scale", [blob], [blob]).scale_param.bias_term = True


def global_pool(net, name, bottom, top):
    p = _layer(net, name, "Pooling", [bottom], [top]).pooling_param
    p.pool = caffe_pb2.PoolingParameter.AVE
    p.global_pooling = True


def input_layer(net, name, shape):
    _layer(net, name, "Input", [], [name]).input_param.shape.add().dim.extend(shape)


def small_se_net(batch: int = 2, channels: int = 8, classes: int = 5) -> caffe_pb2.NetParameter:
    """A tiny SE-ResNet-like net: two conv+BN+Scale, an SE branch fused by Axpy, a classifier."""
    net = caffe_pb2.NetParameter()
    net.name = "tiny-se"
    input_layer(net, "data", [batch, 3, 8, 8])
    conv(net, "conv1", "data", "conv1", channels, 3, pad=1, bias=False)
    bn_scale(net, "conv1")
    _layer(net, "conv1/relu", "ReLU", ["conv1"], ["conv1"])
    conv(net, "conv2", "conv1", "conv2", channels, 3, pad=1, bias=False)
    bn_scale(net, "conv2")
    global_pool(net, "se/pool", "conv2", "se/pool")
    conv(net, "se/down", "se/pool", "se/down", 2, 1)
    _layer(net, "se/relu", "ReLU", ["se/down"], ["se/down"])
    conv(net, "se/up", "se/down", "se/up", channels, 1)
    _layer(net, "se/prob", "Sigmoid", ["se/up"], ["se/up"])
    _layer(net, "fuse", "Axpy", ["se/up", "conv2", "conv1"], ["fuse"])
    _layer(net, "fuse/relu", "ReLU", ["fuse"], ["fuse"])
    global_pool(net, "gpool", "fuse", "gpool")
    ip = _layer(net, "fc", "InnerProduct", ["gpool"], ["fc"])
    ip.inner_product_param.num_output = classes
    _layer(net, "prob", "Softmax", ["fc"], ["prob"])
    return net


def small_se_shapes(batch: int = 2, channels: int = 8, classes: int = 5) -> dict[str, tuple[int, ...]]:
    """The blob shapes of small_se_net, written down by hand."""
    return {
        "data": (batch, 3, 8, 8),
        "conv1": (batch, channels, 8, 8),
        "conv2": (batch, channels, 8, 8),
        "se/pool": (batch, channels, 1, 1),
        "se/down": (batch, 2, 1, 1),
        "se/up": (batch, channels, 1, 1),
        "fuse": (batch, channels, 8, 8),
        "gpool": (batch, channels, 1, 1),
        "fc": (batch, classes),
        "prob": (batch, classes),
    }


def axpy_net(a_shape: Sequence[int], x_shape: Sequence[int]) -> caffe_pb2.NetParameter:
    """Inputs a, x, y and one Axpy layer: out = a * x + y."""
    net = caffe_pb2.NetParameter()
    net.name = "axpy"
    input_layer(net, "a", list(a_shape))
    input_layer(net, "x", list(x_shape))
    input_layer(net, "y", list(x_shape))
    _layer(net, "axpy", "Axpy", ["a", "x", "y"], ["out"])
    return net

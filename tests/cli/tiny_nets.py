"""Tiny hand-made nets for the verify tests: an Input layer and 3x3 convolutions."""

from __future__ import annotations

from senet_proto.caffe import caffe_pb2


def input_net(name: str, shape: list[int]) -> caffe_pb2.NetParameter:
    net = caffe_pb2.NetParameter(name=name)
    data = net.layer.add(name="data", type="Input", top=["data"])
    data.input_param.shape.add(dim=shape)
    return net


def conv3x3(net: caffe_pb2.NetParameter, name: str, bottom: str, num_output: int) -> None:
    """A 3x3 convolution (no pad) named ``name`` with top ``name``."""
    conv = net.layer.add(name=name, type="Convolution", bottom=[bottom], top=[name])
    conv.convolution_param.num_output = num_output
    conv.convolution_param.kernel_size.append(3)

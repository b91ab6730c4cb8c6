"""A legacy V1 net for the tests (``layers`` with enum types, net-level ``input``/``input_dim``).

data -> conv 3x3 pad 1 to 4 channels (+bias; blobs_lr 1/2, weight_decay 1/0) -> in-place ReLU -> pooling
(kernel ``pool_kernel``, stride 2) -> fc (``fc_outputs``, reading ``fc_bottom``) -> softmax. The defaults are
the converters' tests' net (2x3x9x8, AVE 3/2, 5 classes); the CLI tests use a 1x3x8x8 MAX 2/2 net of 10.
"""

from __future__ import annotations

from senet_proto.caffe import caffe_pb2

V1 = caffe_pb2.V1LayerParameter


def v1_net(*, name: str = "v1", input_dim: tuple[int, int, int, int] = (2, 3, 9, 8), pool: str = "AVE",
           pool_kernel: int = 3, fc_outputs: int = 5, fc_bottom: str = "pool") -> caffe_pb2.NetParameter:
    net = caffe_pb2.NetParameter(name=name)
    net.input.append("data")
    net.input_dim.extend(input_dim)
    conv = net.layers.add(name="conv", type=V1.CONVOLUTION, bottom=["data"], top=["conv"])
    conv.blobs_lr.extend([1, 2])
    conv.weight_decay.extend([1, 0])
    conv.convolution_param.num_output = 4
    conv.convolution_param.kernel_size.append(3)
    conv.convolution_param.pad.append(1)
    net.layers.add(name="relu", type=V1.RELU, bottom=["conv"], top=["conv"])
    p = net.layers.add(name="pool", type=V1.POOLING, bottom=["conv"], top=["pool"])
    p.pooling_param.pool = caffe_pb2.PoolingParameter.PoolMethod.Value(pool)
    p.pooling_param.kernel_size = pool_kernel
    p.pooling_param.stride = 2
    fc = net.layers.add(name="fc", type=V1.INNER_PRODUCT, bottom=[fc_bottom], top=["fc"])
    fc.inner_product_param.num_output = fc_outputs
    net.layers.add(name="prob", type=V1.SOFTMAX, bottom=["fc"], top=["prob"])
    return net

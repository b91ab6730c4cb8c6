"""Helpers for the CLI tests of info/draw/view: the official prototxts, a V1 net and a CliRunner wrapper."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result
from official_nets import official_path

from senet_proto.caffe import caffe_pb2, write_prototxt
from senet_proto.cli import main


def official(name: str) -> str:
    """The official prototxt ``name`` (the release's file, or the identical generated net: see official_nets)."""
    return str(official_path(name))


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def one_error_line(result: Result) -> str:
    """The stderr of a failed command: exactly one line, no traceback."""
    err = result.stderr.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    return err


def v1_net_file(path: Path, *, bottom_of_fc: str = "pool") -> str:
    """A legacy V1 net (``layers`` with enum types, net-level input) written to ``path``:
    data 1x3x8x8 -> conv 3x3 pad 1 to 4 channels (+bias) -> in-place ReLU -> MAX pool 2/2 -> fc 10 -> softmax."""
    v1 = caffe_pb2.V1LayerParameter
    net = caffe_pb2.NetParameter(name="v1net")
    net.input.append("data")
    net.input_dim.extend([1, 3, 8, 8])
    conv = net.layers.add(name="conv", type=v1.CONVOLUTION, bottom=["data"], top=["conv"])
    conv.blobs_lr.extend([1, 2])
    conv.convolution_param.num_output = 4
    conv.convolution_param.kernel_size.append(3)
    conv.convolution_param.pad.append(1)
    net.layers.add(name="relu", type=v1.RELU, bottom=["conv"], top=["conv"])
    pool = net.layers.add(name="pool", type=v1.POOLING, bottom=["conv"], top=["pool"])
    pool.pooling_param.pool = caffe_pb2.PoolingParameter.MAX
    pool.pooling_param.kernel_size = 2
    pool.pooling_param.stride = 2
    fc = net.layers.add(name="fc", type=v1.INNER_PRODUCT, bottom=[bottom_of_fc], top=["fc"])
    fc.inner_product_param.num_output = 10
    net.layers.add(name="prob", type=v1.SOFTMAX, bottom=["fc"], top=["prob"])
    write_prototxt(net, path)
    return str(path)

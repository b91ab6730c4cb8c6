"""Helpers for the CLI tests of info/draw/view: the official prototxts and a CliRunner wrapper."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from senet_proto.caffe import caffe_pb2, write_prototxt
from senet_proto.cli import main


def find_official() -> Path:
    for parent in Path(__file__).resolve().parents:
        if (parent / "shared" / "official").is_dir():
            return parent / "shared" / "official"
    return Path(__file__).resolve().parents[2].parent / "shared" / "official"


OFFICIAL = find_official()


def official(name: str) -> str:
    path = OFFICIAL / f"{name}.prototxt"
    assert path.is_file(), f"official prototxt missing: {path}"
    return str(path)


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

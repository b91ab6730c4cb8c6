"""`verify`'s float32-rounding judgement: real conversion mistakes, planted one at a time in the PyTorch
converter, still fail (exit 3) naming the first wrong blob; correct conversions of the deepest net pass.

The float64 shadow is built by the same (broken) converter, so a planted mistake moves Caffe away from it at
the mistake's layer: the first failing blob must be that layer's top (or, where every BatchNorm is wrong but
only some by more than rounding, a BatchNorm's top).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from senet_proto.caffe import caffe_pb2, format_prototxt
from senet_proto.cli import main
from senet_proto.generator import GenerateOptions, generate
from senet_proto.reference.inputs import INPUT_KINDS

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "reference"))
from caffe_nets import conv, input_layer


@pytest.fixture(scope="module")
def small_net(caffe_root, tmp_path_factory) -> tuple[caffe_pb2.NetParameter, Path, Path]:
    """SE-ResNeXt-50 at 96x96, batch 2 (Axpy SE blocks, ceil pooling that floor pooling changes)."""
    from senet_proto.reference import cached_weights

    net = generate("se-resnext-50", GenerateOptions(input_shape=(2, 3, 96, 96), num_classes=10))
    proto = tmp_path_factory.mktemp("mistakes") / "net.prototxt"
    proto.write_text(format_prototxt(net))
    return net, proto, cached_weights(net, seed=0)


def _tops(net: caffe_pb2.NetParameter, layer_type: str) -> list[str]:
    return [str(ly.top[0]) for ly in net.layer if ly.type == layer_type]


def _wrap(monkeypatch, layer_type: str, after: Callable) -> None:
    """Plant a mistake: the PyTorch converter of ``layer_type`` returns ``after(node, module)``."""
    from senet_proto.converters.pytorch import TORCH_LAYERS  # (imports the converters, filling the registry)

    real = TORCH_LAYERS.lookup(layer_type)
    monkeypatch.setitem(TORCH_LAYERS._fns, layer_type, lambda node: after(node, real(node)))


def eps_1e3(monkeypatch, net) -> set[str]:
    def wrong(node, bn):
        bn.eps = 1e-3  # Caffe's default eps is 1e-5
        return bn
    _wrap(monkeypatch, "BatchNorm", wrong)
    return set(_tops(net, "BatchNorm"))


def factor_ignored(monkeypatch, net) -> set[str]:
    from senet_proto.converters import graph

    monkeypatch.setattr(graph, "batchnorm_stats", lambda node: (node.blobs[0].reshape(-1), node.blobs[1].reshape(-1)))
    return {_tops(net, "BatchNorm")[0]}


def floor_pooling(monkeypatch, net) -> set[str]:
    from senet_proto.caffe.layers import pool  # the catalogue's rule, which the converters read

    real = pool.pooled_size

    def floor_size(n: int, k: int, s: int, p: int, any_pad: bool) -> int:
        return min(real(n, k, s, p, any_pad), (n + 2 * p - k) // s + 1)
    monkeypatch.setattr(pool, "pooled_size", floor_size)
    return {_tops(net, "Pooling")[0]}  # pool1: 48 -> 24 with ceil, 23 with floor


def channel_swapped(monkeypatch, net) -> set[str]:
    import torch

    victim = [ly for ly in net.layer if ly.type == "Convolution"][7]

    def wrong(node, conv):
        if node.name == victim.name:
            with torch.no_grad():
                conv.weight[:, [0, 1]] = conv.weight[:, [1, 0]].clone()
        return conv
    _wrap(monkeypatch, "Convolution", wrong)
    return {str(victim.top[0])}


def axpy_reordered(monkeypatch, net) -> set[str]:
    from senet_proto.converters.layers.eltwise import Axpy

    real = Axpy.forward
    monkeypatch.setattr(Axpy, "forward", lambda self, a, x, y: real(self, a, y, x))  # a·Y + X for a·X + Y
    return {_tops(net, "Axpy")[0]}


MISTAKES = [eps_1e3, factor_ignored, floor_pooling, channel_swapped, axpy_reordered]


def _failed_blob(output: str, target: str = "pytorch") -> str:
    m = re.search(rf"^{target}: DIFFERS from Caffe from blob '([^']+)'", output, re.M)
    assert m, output
    return m.group(1)


@pytest.mark.parametrize("plant", MISTAKES, ids=lambda f: f.__name__)
def test_a_planted_mistake_fails_at_its_layer(small_net, monkeypatch, plant) -> None:
    net, proto, weights = small_net
    expected = plant(monkeypatch, net)
    result = CliRunner().invoke(main, ["verify", str(proto), str(weights), "--to", "pytorch", "--worst-only"])
    assert result.exit_code == 3, result.output
    blob = _failed_blob(result.output)
    assert blob in expected, f"first failing blob {blob}, expected one of {sorted(expected)[:5]}"
    last = result.output.strip().splitlines()[-1]
    assert last == f"senet-proto: error: the conversion differs from Caffe: pytorch at blob '{blob}'", last


def test_no_mistake_passes(small_net) -> None:
    """The same net and command as the planted mistakes, unbroken: exit 0 (the mistakes' baseline)."""
    _, proto, weights = small_net
    result = CliRunner().invoke(main, ["verify", str(proto), str(weights), "--to", "pytorch", "--worst-only"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("pytorch: exact up to float32 rounding: ")


def test_a_scale_axis_off_by_one_fails_at_the_scale(caffe_root, monkeypatch, tmp_path: Path) -> None:
    """A one-bottom Scale read from axis 0 instead of 1 broadcasts its C weights over the batch of 1: the module
    still runs, on the wrong shape, from the Scale's top on."""
    from senet_proto.converters.layers.norm import Scale
    from senet_proto.reference import cached_weights

    net = caffe_pb2.NetParameter(name="scaled")
    input_layer(net, "data", [1, 3, 10, 10])
    conv(net, "conv", "data", "conv", 4, 3)
    sc = net.layer.add(name="scale", type="Scale", bottom=["conv"], top=["scaled"])
    sc.scale_param.bias_term = True
    net.layer.add(name="relu", type="ReLU", bottom=["scaled"], top=["scaled"])
    conv(net, "conv2", "scaled", "conv2", 2, 3)
    proto = tmp_path / "scaled.prototxt"
    proto.write_text(format_prototxt(net))
    weights = cached_weights(net, seed=0)
    args = ["verify", str(proto), str(weights), "--to", "pytorch", "--worst-only"]
    assert CliRunner().invoke(main, args).exit_code == 0
    real_init = Scale.__init__
    monkeypatch.setattr(Scale, "__init__", lambda self, w, b, axis: real_init(self, w, b, axis - 1))
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 3, result.output
    assert _failed_blob(result.output) == "scaled"
    assert "shape 4x4x8x8, Caffe's 1x4x8x8" in result.output


# --- no false alarm on the deepest net: Caffe-made SENet-154 weights, several input distributions ---

@pytest.fixture(scope="module")
def senet154(caffe_root, tmp_path_factory) -> tuple[Path, Path]:
    """SENet-154 as generated (224x224) with its Caffe-made weights from the weights cache."""
    from senet_proto.reference import cached_weights

    net = generate("senet-154")
    proto = tmp_path_factory.mktemp("senet154") / "SENet-154.prototxt"
    proto.write_text(format_prototxt(net))
    return proto, cached_weights(net, seed=0)


@pytest.mark.slow
@pytest.mark.parametrize("dist", INPUT_KINDS)
def test_senet154_passes_with_defaults(senet154, monkeypatch, tmp_path: Path, dist: str) -> None:
    """No false alarm where fixed bounds gave one: default verify (both targets), --fuse-bn and --optimize all
    exit 0 on Caffe-made SENet-154 weights. Caffe runs once per input (its result memoized for the three
    commands: the same net, weights and input give the same blobs)."""
    from senet_proto import reference
    from senet_proto.reference.inputs import sample_input

    real, memo = reference.forward, {}

    def forward_once(net, caffemodel, inputs, **kw):
        key = (str(caffemodel), tuple(sorted((k, v.tobytes()) for k, v in inputs.items())))
        if key not in memo:
            memo[key] = real(net, caffemodel, inputs, **kw)
        return memo[key]

    monkeypatch.setattr(reference, "forward", forward_once)
    proto, weights = senet154
    x = tmp_path / "x.npy"
    np.save(x, sample_input(dist, (1, 3, 224, 224), seed=5))
    for flags in ([], ["--fuse-bn"], ["--to", "pytorch", "--optimize"]):
        result = CliRunner().invoke(main, ["verify", str(proto), str(weights), "--input", str(x), "--worst-only",
                                           *flags])
        print(" ".join(flags) or "defaults", result.output, sep="\n")
        assert result.exit_code == 0, result.output
        assert "exact up to float32 rounding: SENet scores" in result.output
    assert len(memo) == 1

"""The PyTorch module's structure and calling conventions (numerics are checked against Caffe elsewhere)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conv_cases import layer

from senet_proto.caffe import caffe_pb2
from senet_proto.converters import load_caffe
from senet_proto.converters.loader import CaffeNet
from senet_proto.converters.pytorch import build_module
from senet_proto.errors import UsageError
from senet_proto.generator import generate


def two_output_net() -> CaffeNet:
    net = caffe_pb2.NetParameter(name="two")
    net.layer.append(layer("Input", "in", [], ["b", "a"], input_param={"shape": [{"dim": [1, 2]}, {"dim": [1, 2]}]}))
    net.layer.append(layer("ReLU", "r1", ["a"], ["z_out"]))
    net.layer.append(layer("Sigmoid", "r2", ["b"], ["a_out"]))
    return load_caffe(net, None)


def test_outputs_inputs_and_errors() -> None:
    m = build_module(two_output_net())
    assert m.input_names == ("b", "a") and m.output_names == ("a_out", "z_out")  # Caffe: sorted names
    a, b = torch.tensor([[-1.0, 2.0]]), torch.tensor([[0.0, 1.0]])
    out = m(b, a)
    assert isinstance(out, tuple) and torch.equal(out[1], torch.relu(a)) and torch.equal(out[0], torch.sigmoid(b))
    assert torch.equal(m(a=a, b=b)[1], out[1])
    blobs = m.forward_blobs(b, a=a)
    assert set(blobs) == {"a", "b", "a_out", "z_out"}
    with pytest.raises(UsageError, match="missing input"):
        m(b)
    with pytest.raises(UsageError, match="not an input"):
        m(b, a, c=a)
    with pytest.raises(UsageError, match="given twice"):
        m(b, a, b=b)


def test_names_and_merged_batchnorm() -> None:
    net = generate("se-resnet-50")
    caffenet = load_caffe(net, None)
    caffenet.weights = _shapes_only(net)
    m = build_module(caffenet)
    names = dict(m.named_children())
    assert "conv1_7x7_s2" in names and m.layer_names["conv1_7x7_s2"] == "conv1/7x7_s2"
    bns = [k for k, v in names.items() if isinstance(v, torch.nn.BatchNorm2d)]
    n_bn = sum(ly.type == "BatchNorm" for ly in net.layer)
    assert len(bns) == n_bn and all(names[k].affine for k in bns)
    assert not any(m.layer_names[k].endswith("/scale") for k in names), "Scale layers should be merged"
    fused = build_module(caffenet, fuse_bn=True)
    assert not any(isinstance(v, torch.nn.BatchNorm2d) for v in fused.children())
    assert all(v.bias is not None for v in fused.children() if isinstance(v, torch.nn.Conv2d))


def _shapes_only(net: caffe_pb2.NetParameter) -> dict[str, list[np.ndarray]]:
    """Zero blobs of the right shapes, via a Caffe-free shape walk (channels only matter here)."""
    shapes: dict[str, int] = {}
    weights: dict[str, list[np.ndarray]] = {}
    for ly in net.layer:
        if ly.type == "Input":
            shapes[ly.top[0]] = ly.input_param.shape[0].dim[1]
            continue
        c = shapes.get(ly.bottom[0], 0) if len(ly.bottom) else 0
        if ly.type == "Convolution":
            p = ly.convolution_param
            k = p.kernel_size[0]
            weights[ly.name] = [np.zeros((p.num_output, c // (p.group or 1), k, k), np.float32)]
            if p.bias_term:
                weights[ly.name].append(np.zeros(p.num_output, np.float32))
            c = p.num_output
        elif ly.type == "InnerProduct":
            weights[ly.name] = [np.zeros((ly.inner_product_param.num_output, c), np.float32),
                                np.zeros(ly.inner_product_param.num_output, np.float32)]
            c = ly.inner_product_param.num_output
        elif ly.type == "BatchNorm":
            weights[ly.name] = [np.zeros(c, np.float32), np.ones(c, np.float32), np.ones(1, np.float32)]
        elif ly.type == "Scale" and len(ly.bottom) == 1:
            weights[ly.name] = [np.ones(c, np.float32), np.zeros(c, np.float32)]
        for t in ly.top:
            shapes[t] = c
    return weights


@pytest.mark.gpu
def test_cuda_matches_cpu() -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    net = generate("se-resnet-50")
    caffenet = load_caffe(net, None)
    rng = np.random.default_rng(0)
    caffenet.weights = {k: [(rng.standard_normal(b.shape) * 0.05).astype(np.float32) if i == 0 and b.ndim > 1
                            else np.abs(b) + 1 if k.endswith("/bn") else b for i, b in enumerate(v)]
                        for k, v in _shapes_only(net).items()}
    x = torch.randn(2, 3, 225, 225) * 50
    for fuse in (False, True):
        m = build_module(caffenet, fuse_bn=fuse)
        with torch.no_grad():
            cpu = m.forward_blobs(x)
            gpu = m.to("cuda").forward_blobs(x.cuda())
        for k, v in cpu.items():
            scale = float(v.abs().max()) or 1.0
            np.testing.assert_allclose(gpu[k].cpu().numpy(), v.numpy(), rtol=0, atol=1e-3 * scale, err_msg=k)

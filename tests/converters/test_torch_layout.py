"""The torch-free layout (used to write .safetensors without torch) equals the real module's state dict."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conv_cases import combine, write_model
from test_layers import CASES
from torch import nn

from senet_proto.converters import load_caffe
from senet_proto.converters.pytorch import CaffeNetModule, build_module
from senet_proto.converters.registry import TORCH_LAYERS
from senet_proto.converters.torch_layout import RESERVED, SUPPORTED, module_graph, state_arrays
from senet_proto.generator import GenerateOptions, generate


def test_supported_types_match_the_torch_registry() -> None:
    assert set(TORCH_LAYERS.supported()) == SUPPORTED


@pytest.mark.parametrize("group", sorted(CASES))
def test_state_arrays_of_every_layer_case(group: str, tmp_path: Path) -> None:
    """Every layer type with blobs (PReLU's slopes included) is laid out as the module lays it out."""
    net, model = combine(CASES[group], group)
    caffenet = load_caffe(net, write_model(model, tmp_path / "m.caffemodel"))
    expected = build_module(caffenet).state_dict()
    ours = state_arrays(module_graph(caffenet))
    assert sorted(ours) == sorted(expected)
    for key, tensor in expected.items():
        np.testing.assert_array_equal(ours[key], tensor.numpy(), err_msg=key)


def test_reserved_names_cover_nn_module_attributes() -> None:
    assert set(dir(nn.Module)) <= RESERVED
    assert set(vars(nn.Module())) <= RESERVED


@pytest.mark.parametrize(("arch", "opts"), [
    ("se-resnet-50", GenerateOptions()),
    ("se-bn-inception", GenerateOptions(se_style="scale", squeeze="fc")),
    ("se-resnext-50", GenerateOptions(se_style="none", phase="deploy")),
])
@pytest.mark.parametrize("fuse_bn", [False, True])
def test_state_arrays_equal_the_module_state_dict(reference, arch: str, opts: GenerateOptions, fuse_bn: bool) -> None:
    net = generate(arch, opts)
    caffenet = load_caffe(net, reference.cached_weights(net, seed=0))
    module: CaffeNetModule = build_module(caffenet, fuse_bn=fuse_bn)
    expected = module.state_dict()
    ours = state_arrays(module_graph(caffenet, fuse_bn=fuse_bn))
    assert sorted(ours) == sorted(expected)
    for key, tensor in expected.items():
        arr = ours[key]
        assert arr.shape == tuple(tensor.shape) and arr.dtype == tensor.numpy().dtype, key
        np.testing.assert_array_equal(arr, tensor.numpy(), err_msg=key)
    assert isinstance(expected[next(iter(expected))], torch.Tensor)

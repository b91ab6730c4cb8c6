"""The converter registry: registration rules, errors for unsupported types, coverage of the required types."""

from __future__ import annotations

import pytest

from senet_proto.caffe import caffe_pb2
from senet_proto.converters import Registry
from senet_proto.converters import layers as _layers  # noqa: F401  (registers the PyTorch converters)
from senet_proto.converters.registry import TORCH_LAYERS
from senet_proto.errors import UnsupportedLayerError

REQUIRED = ["Input", "Convolution", "BatchNorm", "Scale", "Bias", "ReLU", "Sigmoid", "TanH", "Pooling",
            "InnerProduct", "Eltwise", "Concat", "Reshape", "Flatten", "Dropout", "Softmax", "Axpy"]


def test_required_types_are_registered() -> None:
    missing = [t for t in REQUIRED if t not in TORCH_LAYERS]
    assert not missing
    assert "Python" not in TORCH_LAYERS


def test_duplicate_registration_raises() -> None:
    reg: Registry = Registry("test")

    @reg.register("A", "B")
    def first(node):
        return node

    with pytest.raises(ValueError, match="'B' registered twice"):
        @reg.register("B")
        def second(node):
            return node

    assert reg.lookup("B") is first and reg.supported() == ["A", "B"]
    with pytest.raises(ValueError, match="registered twice"):
        TORCH_LAYERS.register("Convolution")(first)


@pytest.mark.parametrize(("layer_type", "reason"), [
    ("Foo", "unknown layer type for pytorch"),
    ("Python", "Python layers run user code"),
    ("SoftmaxWithLoss", "training/data layer"),
])
def test_unsupported_type_names_layer_type_and_known(layer_type: str, reason: str) -> None:
    layer = caffe_pb2.LayerParameter(name="odd/one", type=layer_type)
    with pytest.raises(UnsupportedLayerError) as e:
        TORCH_LAYERS.lookup(layer)
    msg = str(e.value)
    assert f"layer 'odd/one' has type '{layer_type}'" in msg and reason in msg
    assert "known types: " in msg and all(t in msg for t in REQUIRED)
    assert "\n" not in msg

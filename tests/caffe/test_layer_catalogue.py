"""The layer catalogue and the lists derived from it: every catalogued type is converted by each target or
refused there with a stated reason; round_mode FLOOR is refused by every part with the same one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from senet_proto.analysis import infer_shapes
from senet_proto.caffe import caffe_pb2, write_prototxt
from senet_proto.caffe.layers import CATALOGUE, PARAMETER_FREE_TYPES, TRAINING_TYPES, converted_types
from senet_proto.cli import main
from senet_proto.converters import layers as _torch_layers  # noqa: F401  (registers the PyTorch converters)
from senet_proto.converters import load_caffe
from senet_proto.converters.loader import IGNORED_EXTRA_TYPES
from senet_proto.converters.onnx import build_onnx
from senet_proto.converters.onnx.layers import ONNX_CONVERTERS
from senet_proto.converters.pytorch import build_module
from senet_proto.converters.registry import TORCH_LAYERS, Registry
from senet_proto.converters.torch_layout import SUPPORTED
from senet_proto.errors import UnsupportedLayerError

REGISTRIES = {"pytorch": TORCH_LAYERS, "onnx": ONNX_CONVERTERS}


@pytest.mark.parametrize("target", sorted(REGISTRIES))
def test_every_catalogued_type_is_converted_or_refused_with_a_reason(target: str) -> None:
    registry: Registry = REGISTRIES[target]
    for t, entry in sorted(CATALOGUE.items()):
        if target in entry.refused:
            assert t not in registry, f"{t}: {target} converts it but the catalogue says it refuses it"
            assert entry.refused[target] and registry.refusal(t) == entry.refused[target]
        else:
            assert t in registry, f"{t}: catalogued, neither converted by {target} nor refused with a reason"
    assert set(registry.supported()) == converted_types(target), "a converter for a type the catalogue lacks"


def test_derived_type_lists() -> None:
    assert SUPPORTED == converted_types("pytorch") == set(TORCH_LAYERS.supported())
    assert TRAINING_TYPES <= IGNORED_EXTRA_TYPES and not TRAINING_TYPES & converted_types("pytorch")
    assert {"Slice", "Pooling", "Input"} <= PARAMETER_FREE_TYPES
    assert not {"Convolution", "PReLU", "BatchNorm"} & PARAMETER_FREE_TYPES


FLOOR_LINE = "round_mode FLOOR is not supported"


def _floor_net() -> caffe_pb2.NetParameter:
    net = caffe_pb2.NetParameter(name="floor")
    inp = net.layer.add(name="data", type="Input", top=["data"])
    inp.input_param.shape.add().dim.extend([1, 2, 7, 7])
    pool = net.layer.add(name="pool", type="Pooling", bottom=["data"], top=["pool"])
    pool.pooling_param.kernel_size, pool.pooling_param.stride = 2, 2
    pool.pooling_param.round_mode = caffe_pb2.PoolingParameter.FLOOR
    return net


def test_round_mode_floor_is_refused_by_every_part(tmp_path: Path) -> None:
    net = _floor_net()
    with pytest.raises(UnsupportedLayerError, match=FLOOR_LINE):
        infer_shapes(net)
    caffenet = load_caffe(net, None)
    with pytest.raises(UnsupportedLayerError, match=FLOOR_LINE):
        build_module(caffenet)
    with pytest.raises(UnsupportedLayerError, match=FLOOR_LINE):
        build_onnx(caffenet)
    proto, model = tmp_path / "floor.prototxt", tmp_path / "floor.caffemodel"
    write_prototxt(net, proto)
    model.write_bytes(caffe_pb2.NetParameter(name="floor").SerializeToString())
    for args in (["info", str(proto)], *(["convert", str(proto), str(model), "--to", to, "-o", str(tmp_path / to)]
                                        for to in ("pytorch", "onnx"))):
        r = CliRunner().invoke(main, args)
        err = r.stderr.strip()
        assert r.exit_code == 1 and FLOOR_LINE in err and len(err.splitlines()) == 1 and "Traceback" not in err, args
    assert not list(tmp_path.glob("pytorch*")) and not list(tmp_path.glob("onnx*"))

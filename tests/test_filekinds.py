"""filekinds: what a file looks like (for errors), and output names that contradict what is written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from senet_proto.caffe import caffe_pb2, format_prototxt
from senet_proto.errors import UsageError
from senet_proto.filekinds import check_output_suffix, sniff, sniff_file
from senet_proto.generator import ARCHITECTURES, GenerateOptions, generate, generate_solver

ROBUSTNESS = Path(__file__).resolve().parent / "robustness"


def _solverstate() -> bytes:
    state = caffe_pb2.SolverState(iter=7, learned_net="s_iter_7.caffemodel")
    state.history.add().data.extend([1.0, 2.0])
    return state.SerializeToString()


def _onnx() -> bytes:
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    return helper.make_model(graph).SerializeToString()


def _safetensors(metadata: dict[str, str] | None) -> bytes:
    from safetensors.numpy import save

    return save({"w": np.zeros((2, 2), np.float32)}, metadata=metadata)


CASES = {
    "caffemodel": lambda: (ROBUSTNESS / "conv.caffemodel").read_bytes(),
    "net": lambda: (ROBUSTNESS / "conv.prototxt").read_bytes(),
    "solver": lambda: format_prototxt(generate_solver("tv.prototxt", GenerateOptions(phase="train"))).encode(),
    "solverstate": _solverstate,
    "onnx": _onnx,
    "safetensors": lambda: _safetensors(None),
    "pytorch": lambda: _safetensors({"senet_proto.format": "pytorch-module"}),
    "template": lambda: ARCHITECTURES["se-resnet-50"].template.read_bytes(),
    "npy": lambda: _npy(),
}


def _npy() -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, np.zeros(3))
    return buf.getvalue()


@pytest.mark.parametrize("key", sorted(CASES))
def test_sniff_tells_each_kind(key: str, tmp_path: Path) -> None:
    data = CASES[key]()
    kind = sniff(data)
    assert kind is not None and kind.key == key, kind
    path = tmp_path / "f"
    path.write_bytes(data)
    assert sniff_file(path) == kind


def test_sniff_details() -> None:
    state = sniff(_solverstate())
    assert state is not None and state.detail == "its weights are in s_iter_7.caffemodel"
    solver = sniff(CASES["solver"]())
    assert solver is not None and solver.detail == "its net is tv.prototxt"


@pytest.mark.parametrize("data", [b"", b"hello world", bytes(range(256)), b"\x08\x01\x12"])
def test_sniff_does_not_guess(data: bytes) -> None:
    assert sniff(data) is None


def test_sniff_walks_a_real_caffemodel_without_reading_it(caffe_root) -> None:
    """A Caffe-made SE-ResNet-50 caffemodel (about 110 MB) is recognised from its top-level fields."""
    from senet_proto.reference import cached_weights

    kind = sniff_file(cached_weights(generate("se-resnet-50"), seed=0))
    assert kind is not None and kind.key == "caffemodel"


@pytest.mark.parametrize(("name", "accepted", "ok"), [
    ("net.prototxt", (".prototxt",), True),
    ("net", (".prototxt",), True),
    ("net.txt", (".prototxt",), True),  # not a kind known here: the user's choice
    ("NET.ONNX", (".onnx",), True),
    ("net.onnx", (".prototxt",), False),
    ("w.prototxt", (".caffemodel",), False),
])
def test_check_output_suffix(name: str, accepted: tuple[str, ...], ok: bool) -> None:
    if ok:
        check_output_suffix(name, accepted, "something")
    else:
        with pytest.raises(UsageError, match=f"-o {name}: the name says .*, but this writes something"):
            check_output_suffix(name, accepted, "something")

"""`--to onnx` against real Caffe: every layer case, every architecture, every blob; checker and strict
shape inference on every exported model; ONNX Runtime runs them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from arch_helpers import ARCHS, check_all_blobs, random_input
from conv_cases import combine, make_inputs, write_model
from test_layers import CASES, assert_blob_close

from senet_proto.converters import load_caffe
from senet_proto.converters.conventions import ConvertOptions
from senet_proto.converters.onnx import OPSET, build_onnx, check_onnx, export_onnx
from senet_proto.converters.onnx.layers import ONNX_CONVERTERS
from senet_proto.errors import UnsupportedLayerError
from senet_proto.generator import GenerateOptions, generate

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is part of the test extras")
onnx = pytest.importorskip("onnx", reason="onnx is part of the test extras")


def run_onnx(caffenet, inputs: dict[str, np.ndarray], **build) -> dict[str, np.ndarray]:
    model = build_onnx(caffenet, intermediate=True, **build)
    check_onnx(model)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, inputs), strict=True))


@pytest.fixture(scope="module")
def layer_results(reference, tmp_path_factory):
    cache: dict[str, tuple[dict[str, np.ndarray], dict[str, np.ndarray]]] = {}

    def get(group: str):
        if group not in cache:
            cases = CASES[group]
            net, model = combine(cases, group)
            path = write_model(model, Path(tmp_path_factory.mktemp("onnx_layers")) / f"{group}.caffemodel")
            inputs = make_inputs(cases)
            cache[group] = (reference.forward(net, path, inputs), run_onnx(load_caffe(net, path), inputs))
        return cache[group]

    return get


def test_every_layer_group_is_covered() -> None:
    types = {ly.type for cases in CASES.values() for c in cases for ly in c.layers} - {"Input"}
    assert types <= set(ONNX_CONVERTERS.supported()), types - set(ONNX_CONVERTERS.supported())


@pytest.mark.parametrize("group", sorted(CASES))
def test_layer_cases_match_caffe(layer_results, group: str) -> None:
    caffe, ours = layer_results(group)
    for name, ref in caffe.items():
        if name not in ours:
            continue  # an input, or a BatchNorm output merged into its Scale
        assert_blob_close(ours[name], ref, f"onnx {name}")
    compared = sum(name in ours for name in caffe)
    assert compared >= len(CASES[group]), f"only {compared} blobs compared"


def _arch_check(reference, net, weights, x, record) -> None:
    caffe = reference.forward(net, weights, x)
    ours = run_onnx(load_caffe(net, weights), {"data": x})
    ours["data"] = x
    check_all_blobs(caffe, ours, net, record)


@pytest.mark.parametrize("arch", ARCHS)
def test_every_blob_matches_caffe(reference, arch_weights, record_property, arch: str) -> None:
    net, weights = arch_weights(arch)
    _arch_check(reference, net, weights, random_input((1, 3, 224, 224), seed=11), record_property)


@pytest.mark.parametrize(("arch", "size"), [("se-resnet-50", 225), ("se-bn-inception", 193), ("se-resnext-50", 193)])
def test_ceil_pooling_sizes_batch3(reference, arch_weights, record_property, arch: str, size: int) -> None:
    _, weights = arch_weights(arch)
    net = generate(arch, GenerateOptions(input_shape=(3, 3, size, size)))
    _arch_check(reference, net, weights, random_input((3, 3, size, size), seed=size), record_property)


@pytest.mark.parametrize(("arch", "se_style", "squeeze"), [("se-resnet-50", "scale", "fc"),
                                                           ("se-bn-inception", "scale", "fc")])
def test_se_variants(reference, record_property, arch: str, se_style: str, squeeze: str) -> None:
    net = generate(arch, GenerateOptions(se_style=se_style, squeeze=squeeze, input_shape=(2, 3, 224, 224)))
    weights = reference.cached_weights(net, seed=1)
    _arch_check(reference, net, weights, random_input((2, 3, 224, 224), seed=3), record_property)


def test_exported_file_is_clean_and_carries_conventions(reference, arch_weights, tmp_path: Path) -> None:
    net, weights = arch_weights("se-resnet-50")
    out = export_onnx(load_caffe(net, weights), tmp_path / "m.onnx", ConvertOptions(class_order="official"))
    model = onnx.load(str(out))
    onnx.checker.check_model(model, full_check=True)
    onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    assert model.opset_import[0].version == OPSET >= 17
    assert {n.op_type for n in model.graph.node} <= {"Conv", "BatchNormalization", "Relu", "MaxPool",
                                                     "GlobalAveragePool", "AveragePool", "Sigmoid", "Reshape",
                                                     "Mul", "Add", "Gemm", "Softmax"}
    assert [o.name for o in model.graph.output] == ["prob"] and model.graph.input[0].name == "data"
    assert sum(n.op_type == "Mul" for n in model.graph.node) == 16  # Axpy = Mul + Add, 16 SE blocks
    names = {v for n in model.graph.node for v in n.output}
    assert {"conv2_1", "conv5_3_1x1_up", "classifier"} <= names
    props = {p.key: p.value for p in model.metadata_props}
    assert props["input_channel_order"] == "BGR" and props["input_mean"] == "104,117,123"


def test_fused_batchnorm_model(reference, arch_weights) -> None:
    net, weights = arch_weights("se-resnext-50")
    x = random_input((1, 3, 224, 224), seed=5)
    model = build_onnx(load_caffe(net, weights), fuse_bn=True)
    check_onnx(model)
    assert not any(n.op_type == "BatchNormalization" for n in model.graph.node)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (prob,) = session.run(None, {"data": x})
    ref = reference.forward(net, weights, x, blobs=["prob"])["prob"]
    np.testing.assert_allclose(prob, ref, rtol=0, atol=2e-4 * float(np.abs(ref).max()))


def test_python_layers_are_not_exported() -> None:
    from senet_proto.caffe import parse_prototxt
    from senet_proto.converters.loader import CaffeNet

    net = parse_prototxt('layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 } } }\n'
                         'layer { name: "p" type: "Python" bottom: "data" top: "p" python_param { module: "os" } }')
    with pytest.raises(UnsupportedLayerError, match="Python layers run user code"):
        build_onnx(CaffeNet(net=net))

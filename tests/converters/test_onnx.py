"""`--to onnx` against real Caffe: every layer case, every architecture, every blob; checker and strict
shape inference on every exported model; ONNX Runtime runs them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from arch_helpers import VARIANTS, check_all_blobs, random_input, shadow_blobs
from conv_cases import combine, make_inputs, write_model
from test_layers import CASES, PARAMS, SEP, assert_blob_close

from senet_proto.converters import load_caffe
from senet_proto.converters.conventions import ConvertOptions
from senet_proto.converters.onnx import (
    OPSET,
    batch_axes,
    build_onnx,
    check_onnx,
    export_onnx,
    has_dynamic_batch,
    output_blobs,
)
from senet_proto.converters.onnx.layers import ONNX_CONVERTERS
from senet_proto.errors import UnsupportedLayerError
from senet_proto.generator import ARCHITECTURES, GenerateOptions, generate

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is part of the test extras")
onnx = pytest.importorskip("onnx", reason="onnx is part of the test extras")


# SENet-154 has one test of its own (test_timm.py: ONNX every blob + timm, one Caffe forward).
ARCHS = [a for a in ARCHITECTURES if a != "senet-154"]


def run_onnx(caffenet, inputs: dict[str, np.ndarray], **build) -> dict[str, np.ndarray]:
    """Every blob's final value from ONNX Runtime (the exported model plus intermediate outputs)."""
    model = build_onnx(caffenet, intermediate=True, **build)
    check_onnx(model)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    values = session.run([o.name for o in model.graph.output], inputs)
    return dict(zip(output_blobs(model), values, strict=True))


@pytest.fixture(scope="module")
def layer_results(reference, tmp_path_factory):
    """group -> (Caffe's blobs, ONNX Runtime's, ONNX Runtime's with BatchNorm folded), on first use (one Caffe
    net per group of cases, as in test_layers)."""
    cache: dict[str, tuple[dict[str, np.ndarray], ...]] = {}

    def get(group: str):
        if group not in cache:
            cases = CASES[group]
            net, model = combine(cases, group)
            path = write_model(model, Path(tmp_path_factory.mktemp("onnx_layers")) / f"{group}.caffemodel")
            inputs = make_inputs(cases)
            caffenet = load_caffe(net, path)
            cache[group] = (reference.forward(net, path, inputs), run_onnx(caffenet, inputs),
                            run_onnx(caffenet, inputs, fuse_bn=True))
        return cache[group]

    return get


def test_pooling_pads_stay_below_the_kernel(tmp_path: Path) -> None:
    """Caffe's pooling (pad < kernel, ceil rounding, its AVE divisors) maps onto pooling ops whose pads are all
    smaller than the kernel, with no Pad node before them: ONNX Runtime 1.31 (the newest onnxruntime-gpu here) refuses
    pads >= kernel, also after fusing a Pad node into the pooling that follows it."""
    net, model = combine(CASES["Pooling"], "Pooling")
    exported = build_onnx(load_caffe(net, write_model(model, tmp_path / "pool.caffemodel")))
    pools = [n for n in exported.graph.node if n.op_type in ("MaxPool", "AveragePool")]
    padded = {o for n in exported.graph.node if n.op_type == "Pad" for o in n.output}
    assert pools and not [n.name for n in pools if n.input[0] in padded], "a Pad node feeds a pooling"
    for n in pools:
        attrs = {a.name: list(a.ints) for a in n.attribute}
        kernel, pads = attrs["kernel_shape"], attrs.get("pads", [0, 0, 0, 0])
        assert all(p < k for p, k in zip(pads, kernel + kernel, strict=True)), (n.name, kernel, pads)


def test_every_layer_group_is_covered() -> None:
    types = {ly.type for cases in CASES.values() for c in cases for ly in c.layers} - {"Input"}
    assert types <= set(ONNX_CONVERTERS.supported()), types - set(ONNX_CONVERTERS.supported())


@pytest.mark.parametrize(("group", "case_id"), PARAMS)
def test_layer_matches_caffe(layer_results, group: str, case_id: str) -> None:
    caffe, plain, fused = layer_results(group)
    names = [k for k in caffe if k.startswith(case_id + SEP)]
    assert names, f"Caffe returned no blobs for {case_id}"
    compared = 0
    for variant, ours in (("onnx", plain), ("onnx fused", fused)):
        for name in names:
            if name not in ours:
                continue  # an input, or a BatchNorm output merged into its Scale / folded into its convolution
            assert_blob_close(ours[name], caffe[name], f"{variant} {name}")
            compared += variant == "onnx"
    (case,) = [c for c in CASES[group] if c.id == case_id]
    may_lack = {case_id + SEP + n for n in case.inputs if n not in {t for ly in case.layers for t in ly.top}} | {
        case_id + SEP + t for ly in case.layers if ly.type == "BatchNorm" for t in ly.top}
    missing = [n for n in names if n not in plain and n not in may_lack]
    assert compared >= 1 and not missing, f"blobs missing from the ONNX outputs: {missing}"


def _arch_check(reference, net, weights, x, record) -> None:
    """Caffe and ONNX Runtime on ``x``; the ONNX model is exported from ``net`` as it is (batch 1: its dynamic
    batch dimension takes ``x``'s batch)."""
    caffe = reference.forward(net, weights, x)
    caffenet = load_caffe(net, weights)
    ours = run_onnx(caffenet, {"data": x})
    ours["data"] = x
    check_all_blobs(caffe, ours, shadow_blobs(caffenet, x), net, record)


@pytest.mark.parametrize("arch", ARCHS)
def test_every_blob_matches_caffe(reference, arch_weights, record_property, arch: str) -> None:
    net, weights = arch_weights(arch)
    _arch_check(reference, net, weights, random_input((1, 3, 224, 224), seed=11), record_property)


@pytest.mark.parametrize("size", [225, 193])
@pytest.mark.parametrize("arch", ARCHS)
def test_ceil_pooling_sizes_batch3(reference, arch_weights, record_property, arch: str, size: int) -> None:
    """Sizes where Caffe's ceil pooling (and its last-window rule) differ from floor pooling; batch 3 through
    the dynamic batch dimension of a model exported for batch 1."""
    _, weights = arch_weights(arch)
    net = generate(arch, GenerateOptions(input_shape=(1, 3, size, size)))
    _arch_check(reference, net, weights, random_input((3, 3, size, size), seed=size), record_property)


@pytest.mark.parametrize(("arch", "se_style", "squeeze"), VARIANTS)
def test_se_variants(reference, record_property, arch: str, se_style: str, squeeze: str) -> None:
    net = generate(arch, GenerateOptions(se_style=se_style, squeeze=squeeze))
    weights = reference.cached_weights(net, seed=1)
    _arch_check(reference, net, weights, random_input((2, 3, 224, 224), seed=3), record_property)


def test_static_batch_model_matches_caffe(reference, arch_weights) -> None:
    """``dynamic_batch=False`` keeps the prototxt's batch everywhere (and still matches Caffe)."""
    net, weights = arch_weights("se-bn-inception")
    x = random_input((2, 3, 224, 224), seed=4)
    model = build_onnx(load_caffe(net, weights), dynamic_batch=False, input_shape=x.shape)
    check_onnx(model)
    assert not has_dynamic_batch(model)
    assert [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim] == [2, 3, 224, 224]
    (prob,) = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"data": x})
    ref = reference.forward(net, weights, x, blobs=["prob"])["prob"]
    np.testing.assert_allclose(prob, ref, rtol=0, atol=1e-4 * float(np.abs(ref).max()))


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
    assert props["class_order"] == "official" and props["batch"].startswith("dynamic")

    def dims(v):
        return [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]

    assert dims(model.graph.input[0]) == ["N", 3, 224, 224] and dims(model.graph.output[0]) == ["N", 1000]


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


def _tiny_net(text: str):
    from senet_proto.caffe import parse_prototxt

    return parse_prototxt('layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 2 dim: 3 '
                          'dim: 4 dim: 4 } } }\n' + text)


@pytest.mark.parametrize(("body", "weights", "dynamic"), [
    # the batch stays a dimension of its own: dynamic
    ('layer { name: "r" type: "Reshape" bottom: "data" top: "r" reshape_param { shape { dim: 0 dim: -1 } } }',
     {}, True),
    ('layer { name: "f" type: "Flatten" bottom: "data" top: "f" }\n'
     'layer { name: "ip" type: "InnerProduct" bottom: "f" top: "ip" inner_product_param { num_output: 5 } }',
     {"ip": [(5, 48), (5,)]}, True),
    ('layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" inner_product_param { num_output: 5 '
     'axis: 2 } }', {"ip": [(5, 16)]}, True),
    # the batch merged into another dimension, or into an InnerProduct's inputs: the prototxt's batch is kept
    ('layer { name: "r" type: "Reshape" bottom: "data" top: "r" reshape_param { shape { dim: -1 dim: 4 } } }',
     {}, False),
    ('layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" inner_product_param { num_output: 5 '
     'axis: 0 } }', {"ip": [(5, 96), (5,)]}, False),
])
def test_dynamic_batch_only_where_the_batch_is_its_own_dimension(body: str, weights, dynamic: bool) -> None:
    from senet_proto.analysis.shapes import infer_shapes
    from senet_proto.converters.loader import CaffeNet

    net = _tiny_net(body)
    rng = np.random.default_rng(0)
    blobs = {k: [rng.standard_normal(s).astype(np.float32) for s in v] for k, v in weights.items()}
    model = build_onnx(CaffeNet(net=net, weights=blobs))
    check_onnx(model)
    assert has_dynamic_batch(model) is dynamic
    assert (batch_axes(net, infer_shapes(net)) is not None) is dynamic
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x2 = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    out2 = session.run(None, {"data": x2})[0]
    if dynamic:  # every sample is computed on its own: batch 3 repeats batch 2's rows
        out3 = session.run(None, {"data": np.concatenate([x2, x2[:1]])})[0]
        np.testing.assert_allclose(out3[:2], out2, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(out3[2], out2[0], rtol=1e-6, atol=1e-6)
    else:
        with pytest.raises(Exception, match=r"(?i)dimension|shape"):
            session.run(None, {"data": np.concatenate([x2, x2[:1]])})

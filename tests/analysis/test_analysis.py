"""Parameters and multiply-adds against the SENet paper; stages, SE blocks, errors."""

from __future__ import annotations

import pytest
from official_nets import official_path

from senet_proto.analysis import format_table, infer_shapes, summarize
from senet_proto.caffe import caffe_pb2, parse_prototxt, read_prototxt
from senet_proto.caffe.layers.pool import pooled_size
from senet_proto.errors import PrototxtError, UnsupportedLayerError, UsageError

# The paper's multiply-adds at 224×224 (GFLOPs), Table 2 / 7.
PAPER_GMACS = {
    "se-resnet-50": 3.87,
    "se-resnet-101": 7.60,
    "se-resnet-152": 11.32,
    "se-resnext-50": 4.25,
    "se-resnext-101": 8.00,
    "se-bn-inception": 2.04,
}
OFFICIAL_FILES = {"se-resnet-50": "SE-ResNet-50", "se-resnet-152": "SE-ResNet-152",
                  "se-resnext-50": "SE-ResNeXt-50", "se-bn-inception": "SE-BN-Inception"}


def _rel(a: float, b: float) -> float:
    return abs(a - b) / b


@pytest.mark.parametrize("arch", sorted(OFFICIAL_FILES))
def test_official_prototxts_reproduce_paper_gflops(arch: str) -> None:
    s = summarize(read_prototxt(official_path(OFFICIAL_FILES[arch])))
    assert _rel(s.macs / 1e9, PAPER_GMACS[arch]) < 0.01


@pytest.mark.parametrize("arch", sorted(PAPER_GMACS))
def test_generated_default_nets_reproduce_paper_gflops(arch: str) -> None:
    from senet_proto.generator import generate

    s = summarize(generate(arch))
    assert _rel(s.macs / 1e9, PAPER_GMACS[arch]) < 0.01


def test_se_resnet_50_learnable_params_match_paper() -> None:
    s = summarize(read_prototxt(official_path("SE-ResNet-50")))
    assert round(s.params / 1e6, 2) == 28.09
    # conv + classifier MACs alone: REFERENCE's 3.860 G; the SE pooling and scaling add the rest
    core = sum(r.macs for r in s.layers if r.type in ("Convolution", "InnerProduct"))
    assert round(core / 1e9, 3) == 3.860
    assert s.se_blocks == 16


def test_se_resnet_50_params_by_hand() -> None:
    """Independent count from the architecture's definition (ResNet-50 bottlenecks, SE reduction 16)."""
    s = summarize(read_prototxt(official_path("SE-ResNet-50")))
    total = 7 * 7 * 3 * 64 + 2 * 64  # conv1 + its BN's Scale (gamma, beta)
    cin = 64
    for width, blocks in ((64, 3), (128, 4), (256, 6), (512, 3)):
        out = 4 * width
        for b in range(blocks):
            total += cin * width + width * width * 9 + width * out + 2 * (2 * width + out)
            if b == 0:
                total += cin * out + 2 * out  # projection + BN scale
            total += out * (out // 16) + out // 16 + (out // 16) * out + out  # SE: down, up (with biases)
            cin = out
    total += 2048 * 1000 + 1000
    assert s.params == total


NET = 'layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 2 dim: 8 dim: 10 dim: 10 } } }\n'


def test_se_block_share_and_costs_by_hand() -> None:
    """A tiny SE-scaled conv: every count checked against arithmetic done here."""
    net = parse_prototxt(NET + """
layer { name: "conv2_1_3x3" type: "Convolution" bottom: "data" top: "c"
        convolution_param { num_output: 16 kernel_size: 3 pad: 1 stride: 2 group: 2 } }
layer { name: "conv2_1_3x3/bn" type: "BatchNorm" bottom: "c" top: "c" }
layer { name: "conv2_1_3x3/scale" type: "Scale" bottom: "c" top: "c" scale_param { bias_term: true } }
layer { name: "conv2_1_global_pool" type: "Pooling" bottom: "c" top: "g"
        pooling_param { pool: AVE global_pooling: true } }
layer { name: "conv2_1_1x1_down" type: "InnerProduct" bottom: "g" top: "d" inner_product_param { num_output: 4 } }
layer { name: "conv2_1_1x1_down/relu" type: "ReLU" bottom: "d" top: "d" }
layer { name: "conv2_1_1x1_up" type: "InnerProduct" bottom: "d" top: "u" inner_product_param { num_output: 16 } }
layer { name: "conv2_1_prob" type: "Sigmoid" bottom: "u" top: "u" }
layer { name: "conv2_1_scale" type: "Scale" bottom: "c" bottom: "u" top: "o" scale_param { axis: 0 } }
layer { name: "pool5" type: "Pooling" bottom: "o" top: "p" pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
layer { name: "classifier" type: "InnerProduct" bottom: "p" top: "fc" inner_product_param { num_output: 3 } }
""")
    s = summarize(net)
    conv = 2 * 16 * 5 * 5 * (8 // 2) * 9
    pool = 2 * 16 * 25
    down, up = 2 * 16 * 4, 2 * 4 * 16
    scale = 2 * 16 * 25
    pool5 = 2 * 16 * 2 * 2 * 9  # ceil((5 - 3) / 2) + 1 = 2
    fc = 2 * 16 * 2 * 2 * 3
    assert s.macs == conv + pool + down + up + scale + pool5 + fc
    assert s.se_macs == pool + down + up + scale
    assert s.params == (16 * 4 * 9 + 16) + 2 * 16 + (16 * 4 + 4) + (4 * 16 + 16) + (64 * 3 + 3)
    assert s.se_params == (16 * 4 + 4) + (4 * 16 + 16)
    assert s.stats == 2 * 16 + 1
    assert s.se_blocks == 1
    assert [st.name for st in s.stages] == ["input", "conv2_x", "classifier"]
    assert s.stages[1].output == (2, 16, 5, 5)
    assert s.outputs == {"fc": (2, 3)}
    assert {r.name for r in s.layers if r.se} == {"conv2_1_global_pool", "conv2_1_1x1_down", "conv2_1_1x1_down/relu",
                                                   "conv2_1_1x1_up", "conv2_1_prob", "conv2_1_scale"}
    table = format_table(s)
    assert "conv2_x" in table and "SE blocks: 1" in table


def test_input_shape_override_and_legacy_input_dim() -> None:
    legacy = parse_prototxt('input: "data" input_dim: 1 input_dim: 3 input_dim: 32 input_dim: 32\n'
                            'layer { name: "p" type: "Pooling" bottom: "data" top: "p" '
                            'pooling_param { pool: MAX kernel_size: 3 stride: 2 } }')
    assert infer_shapes(legacy) == {"data": (1, 3, 32, 32), "p": (1, 3, 16, 16)}
    assert infer_shapes(legacy, (4, 3, 9, 9)) == {"data": (4, 3, 9, 9), "p": (4, 3, 4, 4)}
    assert summarize(legacy, (4, 3, 9, 9)).inputs == {"data": (4, 3, 9, 9)}


POOL_GRID = [(s, k, p, st) for s in range(1, 20) for k in (1, 2, 3, 5) for p in range(k // 2 + 1) for st in (1, 2, 3)
             if s + 2 * p >= k]


def test_pooled_size_matches_pytorch_ceil_mode() -> None:
    """PyTorch's ceil_mode pooling follows Caffe's rule when pad > 0. With pad 0 PyTorch also drops a last window
    that starts past the input; Caffe 1.0 keeps it (checked against the real Caffe in test_analysis_vs_caffe)."""
    import torch

    differ = []
    for size, kernel, pad, stride in POOL_GRID:
        x = torch.zeros(1, 1, size, size)
        y = torch.nn.functional.max_pool2d(x, kernel, stride, pad, ceil_mode=True)
        ours = pooled_size(size, kernel, stride, pad, pad > 0)
        if pad == 0 and ours != y.shape[-1]:
            assert ours == y.shape[-1] + 1 and (ours - 1) * stride >= size, (size, kernel, pad, stride)
            differ.append((size, kernel, stride))
            continue
        assert ours == y.shape[-1], (size, kernel, pad, stride)
    assert (2, 1, 2) in differ


@pytest.mark.parametrize(
    ("body", "exc", "words"),
    [
        ('layer { name: "weird" type: "LRNish" bottom: "data" top: "x" }', UnsupportedLayerError,
         "layer 'weird' .LRNish.*does not know layer type 'LRNish'"),
        ('layer { name: "c" type: "Convolution" bottom: "data" top: "x" convolution_param { num_output: 4 '
         'kernel_size: 11 } }', PrototxtError, "layer 'c' .*non-positive"),
        ('layer { name: "c" type: "Convolution" bottom: "data" top: "x" convolution_param { num_output: 4 '
         'kernel_size: 3 group: 3 } }', PrototxtError, "group 3 must divide"),
        ('layer { name: "c" type: "Convolution" bottom: "data" top: "x" convolution_param { kernel_size: 3 } }',
         PrototxtError, "num_output must be positive"),
        ('layer { name: "r" type: "Reshape" bottom: "data" top: "x" reshape_param { shape { dim: 7 dim: -1 } } }',
         PrototxtError, "cannot infer"),
        ('layer { name: "e" type: "Eltwise" bottom: "data" top: "x" }', PrototxtError,
         "1 bottoms, expected at least 2"),
        ('layer { name: "p" type: "Pooling" bottom: "data" top: "x" pooling_param { global_pooling: true '
         'kernel_size: 2 } }', PrototxtError, "global_pooling"),
        ('layer { name: "f" type: "InnerProduct" bottom: "data" top: "f" inner_product_param { num_output: 3 } }\n'
         'layer { name: "a" type: "Axpy" bottom: "f" bottom: "data" bottom: "data" top: "y" }', PrototxtError,
         "layer 'a' .Axpy.: the scale"),
        ('layer { name: "r" type: "ReLU" bottom: "nope" top: "x" }', PrototxtError, "Unknown bottom blob 'nope'"),
    ],
)
def test_bad_layers_raise_clear_errors(body: str, exc: type[Exception], words: str) -> None:
    with pytest.raises(exc, match=words):
        infer_shapes(parse_prototxt(NET + body))


def test_input_shape_needs_one_input() -> None:
    two = parse_prototxt(NET + 'layer { name: "d2" type: "Input" top: "d2" input_param { shape { dim: 1 } } }')
    with pytest.raises(UsageError, match="exactly one Input"):
        infer_shapes(two, (1, 3, 8, 8))
    with pytest.raises(PrototxtError, match="non-positive"):
        infer_shapes(parse_prototxt(NET), (1, 0, 8, 8))


def test_v1_layers_are_refused() -> None:
    net = caffe_pb2.NetParameter()
    net.layers.add(name="x")
    with pytest.raises(PrototxtError, match="V1"):
        infer_shapes(net)


@pytest.mark.parametrize("arch", sorted(PAPER_GMACS))
def test_train_nets_count_like_deploy_nets(arch: str) -> None:
    """The generated train_val net (TEST phase: Data, loss, accuracies) has the deploy net's params and MACs."""
    from senet_proto.generator import GenerateOptions, generate

    deploy = summarize(generate(arch))
    for data in ("lmdb", "images", "dummy"):  # a train batch of 1, as the deploy input's (MACs count the batch)
        train = summarize(generate(arch, GenerateOptions(phase="train", data=data, batch_size=1)))
        assert (train.params, train.macs, train.se_macs) == (deploy.params, deploy.macs, deploy.se_macs)
        assert set(train.outputs) >= {"loss"} and train.outputs["loss"] == ()

"""Every option combination gives a well-formed net; options change what they should."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest

from senet_proto.caffe import caffe_pb2, parse_prototxt
from senet_proto.caffe.validate import check_graph, layers_for_phase
from senet_proto.errors import UsageError
from senet_proto.generator import ARCHITECTURES, SE_STYLES, SQUEEZES, GenerateOptions, generate, generate_prototxt

COMBOS = list(itertools.product(sorted(ARCHITECTURES), SE_STYLES, SQUEEZES, ("deploy", "train")))


def _well_formed(net: caffe_pb2.NetParameter) -> None:
    names = [ly.name for ly in net.layer]
    dupes = [n for n, c in Counter(names).items() if c > 1 and n != "data"]
    assert not dupes, f"duplicate layer names {dupes}"
    for phase in (caffe_pb2.TRAIN, caffe_pb2.TEST):
        check_graph(net, phase)
        layers = layers_for_phase(net, phase)
        assert len({ly.name for ly in layers}) == len(layers)
        # in-place layers come right after the chain of their producer
        last_writer: dict[str, int] = {}
        for i, ly in enumerate(layers):
            for top in ly.top:
                if top in ly.bottom:
                    assert last_writer[top] == i - 1, f"in-place {ly.name} is not right after {top}'s producer"
                last_writer[top] = i


@pytest.mark.parametrize(("arch", "se_style", "squeeze", "phase"), COMBOS)
def test_every_combination_is_well_formed(arch: str, se_style: str, squeeze: str, phase: str) -> None:
    opts = GenerateOptions(se_style=se_style, squeeze=squeeze, phase=phase, data="dummy" if phase else "lmdb")
    net = generate(arch, opts)
    assert parse_prototxt(generate_prototxt(arch, opts)) == net
    _well_formed(net)
    types = Counter(ly.type for ly in net.layer)
    inception = arch == "se-bn-inception"
    if se_style == "none":
        assert types["Sigmoid"] == 0 and types["Axpy"] == 0
    else:
        blocks = sum(ly.type == "Axpy" for ly in generate(arch).layer)
        assert types["Sigmoid"] == (10 if inception else blocks)
    assert types["Axpy"] == (0 if inception or se_style != "axpy" else types["Sigmoid"])
    if se_style == "scale" and squeeze == "fc":
        assert types["Axpy"] == 0 and types["Reshape"] == 0, "scale+fc must be Netscope-inferable end to end"
    if se_style != "none":
        squeeze_type = "Convolution" if squeeze == "conv" else "InnerProduct"
        down = [ly for ly in net.layer if ly.name.endswith(("_1x1_down", "_fc_down"))]
        assert down and all(ly.type == squeeze_type for ly in down)
    if phase == "train":
        assert types["SoftmaxWithLoss"] == 1 and types["Accuracy"] == 2 and types["Softmax"] == 0
        bn = [ly for ly in net.layer if ly.type == "BatchNorm"]
        assert all(not ly.batch_norm_param.use_global_stats for ly in bn)
    else:
        assert types["Input"] == 1 and types["Softmax"] == 1


def test_axpy_and_scale_styles_are_the_same_net_for_inception() -> None:
    assert generate("se-bn-inception", GenerateOptions(se_style="scale")) == generate("se-bn-inception")


@pytest.mark.parametrize("reduction", [1, 4, 16, 64])
def test_reduction_sets_the_bottleneck_width(reduction: int) -> None:
    net = generate("se-resnet-50", GenerateOptions(reduction=reduction))
    by_name = {ly.name: ly for ly in net.layer}
    assert by_name["conv2_1_1x1_down"].convolution_param.num_output == 256 // reduction
    assert by_name["conv5_3_1x1_down"].convolution_param.num_output == 2048 // reduction


@pytest.mark.parametrize(
    ("shape", "global_pool"),
    [((3, 3, 225, 225), False), ((2, 3, 193, 193), True), ((1, 3, 320, 256), True), ((4, 3, 64, 64), True)],
)
def test_final_pool_is_the_official_7x7_only_where_it_fits(shape: tuple[int, int, int, int], global_pool: bool) -> None:
    """225 still ends in a 7x7 map (Caffe's ceil pooling); other sizes get a global average pool."""
    for arch in ("se-resnet-50", "se-bn-inception", "senet-154"):
        net = generate(arch, GenerateOptions(input_shape=shape, num_classes=10))
        assert list(net.layer[0].input_param.shape[0].dim) == list(shape)
        pool5 = next(ly for ly in net.layer if ly.name == "pool5/7x7_s1")
        assert pool5.pooling_param.global_pooling == global_pool
        assert global_pool or pool5.pooling_param.kernel_size == 7
        assert next(ly for ly in net.layer if ly.name == "classifier").inner_product_param.num_output == 10
        check_graph(net)


def test_train_phase_with_lmdb_has_two_phased_data_layers() -> None:
    net = generate("se-resnet-50", GenerateOptions(phase="train", input_shape=(32, 3, 224, 224)))
    data = [ly for ly in net.layer if ly.type == "Data"]
    assert [ly.include[0].phase for ly in data] == [caffe_pb2.TRAIN, caffe_pb2.TEST]
    assert data[0].transform_param.mirror and not data[1].transform_param.mirror
    assert list(data[0].transform_param.mean_value) == [104, 117, 123]
    assert data[0].data_param.batch_size == 32 and data[0].transform_param.crop_size == 224


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"se_style": "fused"}, "--se-style"),
        ({"squeeze": "mlp"}, "--squeeze"),
        ({"reduction": 0}, "--reduction"),
        ({"input_shape": (1, 3, 0, 224)}, "--input-shape"),
        ({"input_shape": (1, 1, 224, 224)}, "3 input channels"),
        ({"input_shape": (1, 3, 1, 1)}, "too small"),
        ({"num_classes": 0}, "--num-classes"),
        ({"phase": "test"}, "--phase"),
    ],
)
def test_bad_options_raise_usage_errors(kwargs: dict, words: str) -> None:
    with pytest.raises(UsageError, match=words):
        generate("se-resnet-50", GenerateOptions(**kwargs))

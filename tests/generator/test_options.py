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
    net = generate("se-resnet-50", GenerateOptions(phase="train", batch_size=32))
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
        ({"num_classes": 1}, "softmax over one class"),
        ({"reduction": 257}, "larger than the 256 channels of SE block 'conv2_1'"),
        ({"phase": "train", "input_shape": (1, 3, 224, 192)}, "crops squares"),
        ({"phase": "train", "input_shape": (8, 3, 224, 224)}, "--batch-size"),
        ({"phase": "train", "batch_size": 0}, "--batch-size"),
        ({"phase": "train", "lr_policy": "cosine"}, "--lr-policy"),
    ],
)
def test_bad_options_raise_usage_errors(kwargs: dict, words: str) -> None:
    with pytest.raises(UsageError, match=words):
        generate("se-resnet-50", GenerateOptions(**kwargs))


def test_train_phase_with_images_reads_lists_and_resizes_by_256_224() -> None:
    opts = GenerateOptions(phase="train", data="images", train_source="t.txt", val_source="v.txt", batch_size=8,
                           input_shape=(1, 3, 112, 112), num_classes=5)
    data = [ly for ly in generate("se-resnext-50", opts).layer if ly.type == "ImageData"]
    assert [ly.include[0].phase for ly in data] == [caffe_pb2.TRAIN, caffe_pb2.TEST]
    assert [ly.image_data_param.source for ly in data] == ["t.txt", "v.txt"]
    assert [ly.image_data_param.shuffle for ly in data] == [True, False]
    assert all(ly.image_data_param.batch_size == 8 and ly.image_data_param.new_height == 128
               and ly.image_data_param.new_width == 128 and ly.transform_param.crop_size == 112 for ly in data)


def _learnable_fillers(layer: caffe_pb2.LayerParameter) -> list[caffe_pb2.FillerParameter]:
    """The fillers of a layer's learnable blobs, in blob order (a missing one is Caffe's constant 0)."""
    if layer.type == "Convolution":
        p = layer.convolution_param
        return [p.weight_filler, *([p.bias_filler] if p.bias_term else [])]
    if layer.type == "InnerProduct":
        q = layer.inner_product_param
        return [q.weight_filler, *([q.bias_filler] if q.bias_term else [])]
    if layer.type == "Scale" and len(layer.bottom) == 1:
        return [layer.scale_param.filler, *([layer.scale_param.bias_filler] if layer.scale_param.bias_term else [])]
    return []


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
@pytest.mark.parametrize(("se_style", "squeeze"), [("axpy", "conv"), ("scale", "fc")])
def test_train_val_nets_fill_every_learnable_blob(arch: str, se_style: str, squeeze: str) -> None:
    """Weights: msra (classifier: gaussian); biases 0; Scale 1 and 0 (Caffe's default, the constant 0, never
    learns: convolutions output 0 and BatchNorm passes no gradient back)."""
    net = parse_prototxt(generate_prototxt(arch, GenerateOptions(phase="train", se_style=se_style,
                                                                 squeeze=squeeze)))
    kinds = Counter()
    for layer in net.layer:
        fillers = _learnable_fillers(layer)
        if not fillers:
            continue
        weight, *bias = fillers
        if layer.type == "Scale":
            assert (weight.type, weight.value) == ("constant", 1.0), layer.name
        elif layer.name == "classifier":
            assert (weight.type, weight.std) == ("gaussian", pytest.approx(0.01)), layer.name
        else:
            assert weight.type == "msra", layer.name
        for b in bias:
            assert b.type == "constant" and b.HasField("value") and b.value == 0.0, layer.name
        kinds[layer.type] += 1
    assert kinds["Convolution"] > 0 and kinds["Scale"] > 0 and kinds["InnerProduct"] >= 1
    if squeeze == "fc":
        assert kinds["InnerProduct"] > 1, "the SE fully connected layers are filled too"
    deploy = generate(arch, GenerateOptions(se_style=se_style, squeeze=squeeze))
    assert not any(f.ListFields() for ly in deploy.layer for f in _learnable_fillers(ly)), "deploy: as released"


@pytest.mark.parametrize(("se_style", "name"), [("axpy", "SE-ResNet-50"), ("none", "ResNet-50 (no SE)")])
def test_net_name_says_whether_it_has_se_blocks(se_style: str, name: str) -> None:
    assert generate("se-resnet-50", GenerateOptions(se_style=se_style)).name == name
    assert generate("senet-154", GenerateOptions(se_style=se_style)).name.endswith(name[len("SE-ResNet-50"):])


def test_finetune_renames_the_classifier_and_raises_its_learning_rate() -> None:
    opts = GenerateOptions(phase="train", num_classes=10, finetune=True)
    by_name = {ly.name: ly for ly in generate("se-resnet-50", opts).layer}
    assert "classifier" not in by_name
    head = by_name["classifier_ft"]
    assert head.inner_product_param.num_output == 10
    assert [(p.lr_mult, p.decay_mult) for p in head.param] == [(10.0, 1.0), (20.0, 0.0)]
    assert all(not ly.param for ly in by_name.values() if ly.name != "classifier_ft")
    deploy = generate("se-resnet-50", GenerateOptions(num_classes=10, finetune=True))
    assert [ly.name for ly in deploy.layer if ly.type == "InnerProduct"] == ["classifier_ft"]
    assert not any(ly.param for ly in deploy.layer)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, {"base_lr": 0.1, "iter_size": 4, "test_iter": [782], "test_interval": 5005, "stepsize": 150150,
              "max_iter": 500500, "solver_mode": caffe_pb2.SolverParameter.GPU}),
        ({"batch_size": 32, "iter_size": 1, "solver_mode": "cpu", "train_size": 3200, "val_size": 100},
         {"base_lr": 0.0125, "test_iter": [4], "test_interval": 100, "stepsize": 3000, "max_iter": 10000,
          "solver_mode": caffe_pb2.SolverParameter.CPU}),
        ({"finetune": True, "train_size": 25600}, {"base_lr": 0.01, "max_iter": 3000, "stepsize": 900}),
        ({"lr_policy": "multistep", "train_size": 2560, "epochs": 10},
         {"stepvalue": [30, 60, 90], "max_iter": 100}),
    ],
)
def test_solver_scales_the_learning_rate_and_counts_in_epochs(kwargs: dict, expected: dict) -> None:
    from senet_proto.generator import generate_solver

    s = generate_solver("train_val.prototxt", GenerateOptions(phase="train", **kwargs))
    for field, value in expected.items():
        got = getattr(s, field)
        assert (list(got) if isinstance(value, list) else got) == pytest.approx(value), field
    assert s.snapshot_prefix == "snapshots/train_val" and s.net == "train_val.prototxt"

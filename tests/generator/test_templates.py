"""Templates are data: user templates drive the generic generator; malformed ones fail clearly."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from senet_proto.caffe.validate import check_graph
from senet_proto.errors import TemplateError
from senet_proto.generator import ARCHITECTURES, GenerateOptions, generate, load_template

RESNET_50 = ARCHITECTURES["se-resnet-50"].template.read_text()


def _user_template(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "mine.toml"
    p.write_text(text)
    return p


def test_every_shipped_template_loads() -> None:
    kinds = {load_template(info.template).kind for info in ARCHITECTURES.values()}
    assert kinds == {"bottleneck", "inception"}


@pytest.mark.parametrize(("blocks", "name"), [([2, 2, 2, 2], "SE-ResNet-26"), ([3, 24, 36, 3], "SE-ResNet-200")])
def test_user_template_with_other_depths(tmp_path: Path, blocks: list[int], name: str) -> None:
    text = RESNET_50.replace("blocks = [3, 4, 6, 3]", f"blocks = {blocks}").replace('"SE-ResNet-50"', f'"{name}"')
    net = generate(_user_template(tmp_path, text))
    check_graph(net)
    assert net.name == name
    assert sum(ly.type == "Axpy" for ly in net.layer) == sum(blocks)
    names = {ly.name for ly in net.layer}
    for stage, n in zip(range(2, 6), blocks, strict=True):
        assert f"conv{stage}_{n}" in names and f"conv{stage}_{n + 1}" not in names


def test_user_template_with_wider_groups(tmp_path: Path) -> None:
    text = (ARCHITECTURES["se-resnext-50"].template.read_text()
            .replace("groups = 32", "groups = 64").replace("[128, 256, 512, 1024]", "[256, 512, 1024, 2048]"))
    net = generate(_user_template(tmp_path, text))
    conv = next(ly for ly in net.layer if ly.name == "conv2_1_3x3")
    assert conv.convolution_param.group == 64 and conv.convolution_param.num_output == 256


@pytest.mark.parametrize(("h", "w", "slices"), [(224, 224, [2, 3]), (225, 225, []), (225, 224, [3])])
def test_a_floor_mode_stem_pool_slices_off_what_caffe_adds(tmp_path: Path, h, w, slices) -> None:
    """Caffe 1.0 pools in ceil mode: a stem pool with round = "floor" keeps PyTorch's size, slicing off the extra
    last row/column (the rest consumed by a Silence layer) only on the axes where the sizes differ."""
    text = RESNET_50.replace('method = "MAX"', 'method = "MAX"\npad = 1\nround = "floor"')
    net = generate(_user_template(tmp_path, text), GenerateOptions(input_shape=(1, 3, h, w)))
    cuts = [ly for ly in net.layer if ly.type == "Slice"]
    assert [ly.slice_param.axis for ly in cuts] == slices
    assert [ly.slice_param.slice_point[0] for ly in cuts] == [56] * len(slices)  # floor((112 + 2 - 3) / 2) + 1
    assert [ly.bottom[0] for ly in net.layer if ly.type == "Silence"] == [ly.top[1] for ly in cuts]
    assert next(ly for ly in net.layer if ly.name == "conv2_1_1x1_reduce").bottom[0] == \
        (cuts[-1].top[0] if cuts else "pool1/3x3_s2")


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda t: t.replace('kind = "bottleneck"', 'kind = "transformer"'), "'kind': must be one of"),
        (lambda t: t.replace("blocks = [3, 4, 6, 3]", "blocks = [3, 4, 6]"), "'stages.reduce_width': expected 3"),
        (lambda t: t.replace("blocks = [3, 4, 6, 3]", 'blocks = "many"'), "'stages.blocks'"),
        (lambda t: t.replace("groups = 1", "groups = 0"), "'stages.groups': must be a positive"),
        (lambda t: t.replace("groups = 1", "groups = 7"), "not divisible by groups"),
        (lambda t: t.replace('name = "SE-ResNet-50"\n', ""), "key 'name': missing"),
        (lambda t: "colour = 3\n" + t, "'colour': unknown key"),
        (lambda t: t.replace("[head]", "[head]\nsize = 1"), "'head.size': unknown key"),
        (lambda t: t.replace("[head]", "[head\n"), "not valid TOML"),
        (lambda t: t.replace("num_output = 64", "num_output = -64"), "'stem[0].num_output'"),
        (lambda t: t.replace("stride = 1 }", 'stride = 1, round = "floor" }'), "'head.pool.round': only a stem"),
        (lambda t: t.replace("[stages]", "[stages]\nse_width = [16, 32]"), "'stages.se_width': expected 4"),
        (lambda t: t.replace("[stages]", '[stages]\nshortcut = "pool"'), "'stages.shortcut': must be one of"),
    ],
)
def test_malformed_templates_name_the_key(tmp_path: Path, edit, words: str) -> None:
    path = _user_template(tmp_path, edit(RESNET_50))
    with pytest.raises(TemplateError, match=re.escape(words)) as info:
        generate(path)
    assert str(path) in str(info.value)


def test_missing_template_file(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="no such template"):
        generate(tmp_path / "nope.toml")
    with pytest.raises(TemplateError, match="is a directory"):
        generate(tmp_path)

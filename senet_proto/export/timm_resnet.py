"""timm's non-legacy SE ResNets (``seresnet50``, ``seresnext50_32x4d``, the ``d`` variants such as
``seresnext26d_32x4d``): a generator template read from the timm model's own modules, where Caffe computes
exactly what they compute; anything else is refused in one line naming the part.

timm builds the model on PyTorch's meta device (shapes only, no weights). What differs from the release's nets
becomes template data: the stride on the 3x3 (``stride_on``), the SE width timm rounds (``se_width``), the stem
max pool's floor rounding (``round = "floor"``: Caffe 1.0 rounds up, the extra row/column is sliced off), a deep
3-conv stem and the average-pool shortcut of the ``d`` variants (``shortcut = "avg"``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..converters.timm import TIMM_MODELS, TimmSlot, resnet_layout, timm_slot
from ..errors import UsageError
from ..generator.template import Template, parse_template
from ..optional import import_optional

# the release's layer names where the part has a counterpart (SENet-154's for a deep stem)
_STEM_7X7 = [("conv1/7x7_s2", "conv1/relu_7x7_s2", 7, 2)]
_STEM_DEEP = [("conv1_1/3x3_s2", "conv1_1/relu_3x3_s2", 3, 2), ("conv1_2/3x3", "conv1_2/relu_3x3", 3, 1),
              ("conv1_3/3x3", "conv1_3/relu_3x3", 3, 1)]
BN_EPS = 1e-5  # Caffe's BatchNorm default, which the generated prototxt keeps


@dataclass(frozen=True)
class ResNetArch:
    """A timm ResNet's template, and where each Caffe layer's weights live in its state dict."""

    model: str
    template: Template
    avg_down: bool

    def slot(self, name: str) -> TimmSlot | None:
        return timm_slot(name, resnet_layout(self.avg_down))


class _Refused(Exception):
    """A part of the model Caffe (or the generator's templates) cannot express exactly."""


def _need(ok: bool, part: str) -> None:
    if not ok:
        raise _Refused(part)


def _conv(m: Any, nn: Any, what: str, kernel: int, stride: int | None = None, groups: int = 1) -> None:
    _need(isinstance(m, nn.Conv2d) and m.groups == groups, f"{what} is {m!r}, not a convolution with {groups} group(s)")
    _need(m.kernel_size == (kernel, kernel) and m.padding == (kernel // 2, kernel // 2) and m.dilation == (1, 1)
          and m.bias is None and m.padding_mode == "zeros" and (stride is None or m.stride == (stride, stride))
          and m.stride[0] == m.stride[1],
          f"{what} is a {tuple(m.kernel_size)} convolution with stride {tuple(m.stride)}, padding "
          f"{m.padding}, dilation {tuple(m.dilation)} (expected {kernel}x{kernel}, padding {kernel // 2}, no bias)")


def _bn(m: Any, nn: Any, what: str) -> None:
    _need(type(m) is nn.BatchNorm2d and m.affine and m.track_running_stats and abs(m.eps - BN_EPS) < 1e-12,
          f"{what} is a {type(m).__name__} (expected BatchNorm2d with eps {BN_EPS}, affine, running statistics)")


def _relu(m: Any, nn: Any, what: str) -> None:
    _need(type(m) is nn.ReLU, f"{what} is a {type(m).__name__} activation (Caffe's ReLU is expressed; others not)")


def _stem(model: Any, nn: Any) -> list[dict[str, Any]]:
    conv1 = model.conv1
    if isinstance(conv1, nn.Sequential):
        _need(len(conv1) == 7, f"the stem has {len(conv1)} parts (a deep stem has 3 convolutions)")
        convs, names = [conv1[0], conv1[3], conv1[6]], _STEM_DEEP
        for i in (1, 4):
            _bn(conv1[i], nn, f"stem conv1.{i}")
            _relu(conv1[i + 1], nn, f"stem conv1.{i + 1}")
    else:
        convs, names = [conv1], _STEM_7X7
    _bn(model.bn1, nn, "bn1")
    _relu(model.act1, nn, "act1")
    stem = []
    for conv, (name, relu, kernel, stride) in zip(convs, names, strict=True):
        _conv(conv, nn, f"stem {name}", kernel, stride)
        stem.append({"name": name, "relu": relu, "num_output": conv.out_channels, "kernel": kernel,
                     "stride": stride, "pad": kernel // 2})
    pool = model.maxpool
    _need(type(pool) is nn.MaxPool2d and (pool.kernel_size, pool.stride, pool.padding, pool.dilation) == (3, 2, 1, 1)
          and not pool.ceil_mode,
          f"the stem pool is {pool!r}, not MaxPool2d(3, stride 2, padding 1)")
    stem.append({"pool": True, "name": "pool1/3x3_s2", "method": "MAX", "kernel": 3, "stride": 2, "pad": 1,
                 "round": "floor"})
    return stem


def _se(m: Any, nn: Any, what: str) -> int:
    """The SE module's reduced width, after checking it is SE as Caffe's layers compute it."""
    from timm.layers.activations import Sigmoid
    from timm.layers.squeeze_excite import SEModule

    _need(m is not None, f"{what} has no attention layer (export takes SE nets)")
    _need(type(m) is SEModule, f"the attention layer {what} is {type(m).__name__}, not SE")
    _need(not m.add_maxpool and isinstance(m.bn, nn.Identity),
          f"{what}: SE with a max pool or a norm layer in its squeeze")
    _relu(m.act, nn, f"{what}.act")
    _need(type(m.gate) in (nn.Sigmoid, Sigmoid),
          f"{what}.gate is a {type(m.gate).__name__} (Caffe's Sigmoid is expressed)")
    for fc in (m.fc1, m.fc2):
        _need(type(fc) is nn.Conv2d and fc.kernel_size == (1, 1) and fc.bias is not None and fc.groups == 1,
              f"{what}: its fc layers are not 1x1 convolutions with bias")
    return int(m.fc1.out_channels)


def _shortcut(block: Any, nn: Any, what: str, stride: int) -> tuple[str, int]:
    """("conv" or "avg", the projection's kernel) of a stage's first block."""
    ds = block.downsample
    _need(isinstance(ds, nn.Sequential), f"{what} has no projection shortcut")
    if len(ds) == 2:
        conv = ds[0]
        _need(isinstance(conv, nn.Conv2d) and conv.stride == (stride, stride),
              f"{what}.downsample does not stride like its block")
        _conv(conv, nn, f"{what}.downsample.0", conv.kernel_size[0])
        _bn(ds[1], nn, f"{what}.downsample.1")
        return "conv", conv.kernel_size[0]
    _need(len(ds) == 3, f"{what}.downsample has {len(ds)} parts")
    pool = ds[0]
    if stride == 1:
        _need(isinstance(pool, nn.Identity), f"{what}.downsample.0 pools without a stride")
    else:
        _need(type(pool) is nn.AvgPool2d and pool.kernel_size == stride and pool.stride == stride
              and pool.padding == 0 and pool.ceil_mode and not pool.count_include_pad,
              f"the shortcut pool {what}.downsample.0 is {pool!r}, not AvgPool2d({stride}, {stride}, "
              "ceil_mode=True, count_include_pad=False)")
    _conv(ds[1], nn, f"{what}.downsample.1", 1, 1)
    _bn(ds[2], nn, f"{what}.downsample.2")
    return "avg", 1


def _block(block: Any, nn: Any, what: str, first: bool) -> tuple[Any, ...]:
    """(reduce, mid, out, SE width, groups, stride, shortcut kind, projection kernel) of a bottleneck block, after
    checking each part; stride and shortcut only in a stage's first block."""
    from timm.models.resnet import Bottleneck

    _need(type(block) is Bottleneck, f"{what} is a {type(block).__name__} (the templates have bottleneck blocks "
          "only)")
    stride = block.conv2.stride[0] if first else 1
    _conv(block.conv1, nn, f"{what}.conv1", 1, 1)  # the stride sits on the 3x3 (the release's SE-ResNet: the 1x1)
    _conv(block.conv2, nn, f"{what}.conv2", 3, stride, groups=block.conv2.groups)
    _conv(block.conv3, nn, f"{what}.conv3", 1, 1)
    for j in (1, 2, 3):
        _bn(getattr(block, f"bn{j}"), nn, f"{what}.bn{j}")
        _relu(getattr(block, f"act{j}"), nn, f"{what}.act{j}")
    _need(isinstance(block.aa, nn.Identity), f"{what} has an anti-aliasing layer ({type(block.aa).__name__})")
    _need(isinstance(block.drop_block, nn.Identity), f"{what} has DropBlock")
    se_width = _se(block.se, nn, f"{what}.se")
    if first:
        kind, kernel = _shortcut(block, nn, what, stride)
    else:
        _need(block.downsample is None, f"{what} has a projection shortcut (only a stage's first block may)")
        kind, kernel = "", 0
    return (block.conv1.out_channels, block.conv2.out_channels, block.conv3.out_channels, se_width,
            block.conv2.groups, stride, kind, kernel)


def _stages(model: Any, nn: Any) -> dict[str, Any]:
    """The template's ``stages`` table: per stage blocks, widths, SE widths, strides, projection kernels."""
    keys = ("reduce_width", "mid_width", "out_width", "se_width", "groups", "strides", "shortcut", "proj_kernel")
    stages: dict[str, list[Any]] = {k: [] for k in ("blocks", *keys)}
    for s in range(1, 5):
        layer = getattr(model, f"layer{s}")
        blocks = [_block(b, nn, f"layer{s}.{i}", i == 0) for i, b in enumerate(layer)]
        _need(all(b[:5] == blocks[0][:5] for b in blocks), f"the blocks of layer{s} differ in width or groups")
        stages["blocks"].append(len(blocks))
        for key, value in zip(keys, blocks[0], strict=True):
            stages[key].append(value)
    for key in ("groups", "shortcut"):
        _need(len(set(stages[key])) == 1, f"the stages differ in {key} ({stages[key]})")
        stages[key] = stages[key][0]
    return {**stages, "stride_on": "3x3"}


def _head(model: Any, nn: Any) -> None:
    pool = model.global_pool
    _need(getattr(pool, "pool_type", None) == "avg", f"the head pools with {getattr(pool, 'pool_type', pool)!r}, "
          "not an average")
    _need(isinstance(model.fc, nn.Linear), f"the classifier is a {type(model.fc).__name__}")


@lru_cache(maxsize=8)
def resnet_arch(name: str) -> ResNetArch:
    """The template of the timm ResNet ``name``; UsageError naming the first part Caffe cannot express."""
    timm = import_optional("timm", what="export")
    import torch
    from timm.models.resnet import ResNet
    from torch import nn

    if not timm.is_model(name):
        raise UsageError(f"unknown timm model {name!r}: export takes timm's legacy SENets "
                         f"({', '.join(TIMM_MODELS)}), timm's SE ResNets (e.g. seresnet50, seresnext50_32x4d, "
                         "seresnext26d_32x4d), a timm folder or a senet-proto safetensors file")
    with torch.device("meta"):  # shapes only
        model = timm.create_model(name, pretrained=False)
    if not isinstance(model, ResNet):
        raise UsageError(f"{name}: a timm {type(model).__name__}, not a ResNet: export takes timm's legacy SENets "
                         "and timm's SE ResNets (e.g. seresnet50, seresnext50_32x4d)")
    try:
        stem = _stem(model, nn)
        stages = _stages(model, nn)
        _head(model, nn)
    except _Refused as e:
        raise UsageError(f"{name}: no exact Caffe export: {e}") from None
    grouped = stages["groups"] > 1
    data = {
        "name": name, "family": "resnext" if grouped else "resnet", "kind": "bottleneck",
        "description": f"timm {name}: a ResNet{'Xt' if grouped else ''} with SE attention, read from timm's model",
        "explicit_stride": True, "stem": stem, "stages": stages,
        "head": {"pool": {"name": "pool5/7x7_s1", "method": "AVE", "kernel": 7, "stride": 1},
                 "classifier": "classifier", "prob": "prob"},
    }
    return ResNetArch(name, parse_template(data, f"timm:{name}"), stages["shortcut"] == "avg")


__all__ = ["ResNetArch", "resnet_arch"]

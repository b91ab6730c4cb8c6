"""Residual bottleneck nets (SE-ResNet, SE-ResNeXt, SENet-154) expanded from template data."""

from __future__ import annotations

from .builder import NetBuilder
from .options import GenerateOptions
from .se import excite, rescale
from .template import Template


def conv_bn(b: NetBuilder, name: str, bottom: str, num_output: int, kernel: int, stride: int = 1,
            group: int = 1, relu: str | None = None, bn_global: bool | None = True) -> str:
    top = b.conv(name, bottom, num_output, kernel, stride=stride, pad=kernel // 2, group=group)
    b.batchnorm_scale(top, bn_global)
    if relu is not None:
        b.relu(relu, top)
    return top


def block(b: NetBuilder, t: Template, opts: GenerateOptions, bn_global: bool | None,
          prefix: str, x: str, stage: int, first: bool) -> str:
    stride = t.strides[stage] if first else 1
    s_reduce, s_mid = (stride, 1) if t.stride_on == "reduce" else (1, stride)
    y = conv_bn(b, f"{prefix}_1x1_reduce", x, t.reduce_width[stage], 1, s_reduce,
                relu=f"{prefix}_1x1_reduce/relu", bn_global=bn_global)
    y = conv_bn(b, f"{prefix}_3x3", y, t.mid_width[stage], 3, s_mid, group=t.groups,
                relu=f"{prefix}_3x3/relu", bn_global=bn_global)
    y = conv_bn(b, f"{prefix}_1x1_increase", y, t.out_width[stage], 1, bn_global=bn_global)
    hidden = t.se_width[stage] if t.se_width else None
    gate = excite(b, prefix, y, opts, hidden) if opts.se_style != "none" else None
    shortcut = x
    if first and t.shortcut == "avg":  # ResNet-D: average pool (stride 1: none), then a 1x1 convolution
        if stride != 1:
            x = b.pool(f"{prefix}_proj_pool", x, "AVE", stride, stride)
        shortcut = conv_bn(b, f"{prefix}_1x1_proj", x, t.out_width[stage], 1, bn_global=bn_global)
    elif first:
        shortcut = conv_bn(b, f"{prefix}_1x1_proj", x, t.out_width[stage], t.proj_kernel[stage], stride,
                           bn_global=bn_global)
    if gate is None:
        out = b.eltwise_sum(prefix, [y, shortcut])
    elif opts.se_style == "axpy":
        out = b.axpy(prefix, gate, y, shortcut)
    else:
        scaled = rescale(b, prefix, y, gate, f"{prefix}_scale")
        out = b.eltwise_sum(prefix, [scaled, shortcut])
    b.relu(f"{out}/relu", out)
    return out


def body(b: NetBuilder, t: Template, opts: GenerateOptions, x: str, bn_global: bool | None) -> str:
    for stage, n_blocks in enumerate(t.blocks):
        for i in range(n_blocks):
            x = block(b, t, opts, bn_global, f"conv{t.first_stage + stage}_{i + 1}", x, stage, first=i == 0)
    return x

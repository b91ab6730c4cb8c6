"""BN-Inception nets (SE-BN-Inception) expanded from template data: one SE gate per inception module."""

from __future__ import annotations

from .builder import NetBuilder
from .options import GenerateOptions
from .se import excite, rescale
from .template import InceptionModule, Template


def _branch(b: NetBuilder, m: str, name: str, bottom: str, num_output: int, kernel: int, stride: int,
            bn_global: bool | None) -> str:
    top = b.conv(f"{m}/{name}", bottom, num_output, kernel, stride=stride, pad=kernel // 2)
    b.batchnorm_scale(top, bn_global)
    b.relu(f"{m}/relu_{name}", top)
    return top


def module(b: NetBuilder, mod: InceptionModule, opts: GenerateOptions, x: str, bn_global: bool | None) -> str:
    m, s = mod.name, mod.stride
    branches = []
    if s == 1:
        branches.append(_branch(b, m, "1x1", x, mod.b1x1, 1, 1, bn_global))
    r = _branch(b, m, "3x3_reduce", x, mod.b3x3_reduce, 1, 1, bn_global)
    branches.append(_branch(b, m, "3x3", r, mod.b3x3, 3, s, bn_global))
    d = _branch(b, m, "double3x3_reduce", x, mod.d3x3_reduce, 1, 1, bn_global)
    d = _branch(b, m, "double3x3a", d, mod.d3x3, 3, 1, bn_global)
    branches.append(_branch(b, m, "double3x3b", d, mod.d3x3, 3, s, bn_global))
    if s == 1:
        p = b.pool(f"{m}/pool", x, mod.pool, 3, 1, 1)
        branches.append(_branch(b, m, "pool_proj", p, mod.pool_proj, 1, 1, bn_global))
    else:
        branches.append(b.pool(f"{m}/pool/3x3_s2", x, "MAX", 3, 2))
    y = b.concat(f"{m}/concat", branches)
    if opts.se_style == "none":
        return y
    # No shortcut here: the gate rescales the module output (Reshape + two-bottom Scale, as released).
    gate = excite(b, m, y, opts)
    return rescale(b, m, y, gate, f"{m}/output")


def body(b: NetBuilder, t: Template, opts: GenerateOptions, x: str, bn_global: bool | None) -> str:
    for mod in t.modules:
        x = module(b, mod, opts, x, bn_global)
    return x

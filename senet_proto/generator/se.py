"""The squeeze-and-excitation gate in its variants (conv/fc squeeze; axpy/scale/none rescale)."""

from __future__ import annotations

from ..errors import UsageError
from .builder import NetBuilder
from .options import GenerateOptions


def excite(b: NetBuilder, prefix: str, x: str, opts: GenerateOptions, hidden: int | None = None) -> str:
    """Pool -> squeeze -> ReLU -> excite -> Sigmoid on blob ``x``; return the gate blob (N×C×1×1 or N×C).
    ``hidden``: the squeeze's width (a template's ``se_width``); None: channels // ``opts.reduction``."""
    channels = b.shapes[x][1]
    if hidden is None:
        hidden = channels // opts.reduction
        if hidden < 1:  # refused rather than silently clamped to a 1-channel bottleneck
            raise UsageError(f"--reduction {opts.reduction} is larger than the {channels} channels of SE block "
                             f"'{prefix}' (its bottleneck would have no channel); use at most {channels}")
    pooled = b.global_pool(f"{prefix}_global_pool", x)
    if opts.squeeze == "conv":
        down = b.conv(f"{prefix}_1x1_down", pooled, hidden, kernel=1, bias=True, explicit_stride=True)
        b.relu(f"{down}/relu", down)
        up = b.conv(f"{prefix}_1x1_up", down, channels, kernel=1, bias=True, explicit_stride=True)
    else:
        down = b.inner_product(f"{prefix}_fc_down", pooled, hidden)
        b.relu(f"{down}/relu", down)
        up = b.inner_product(f"{prefix}_fc_up", down, channels)
    b.sigmoid(f"{prefix}_prob", up)
    return up


def rescale(b: NetBuilder, prefix: str, x: str, gate: str, top: str) -> str:
    """x * gate with stock layers: a 4-D gate is reshaped to N×C, then a two-bottom Scale (axis 0)."""
    if len(b.shapes[gate]) == 4:
        gate = b.reshape_nc(f"{prefix}_prob_reshape", gate)
    return b.scale_by(f"{prefix}_scale", x, gate, top)

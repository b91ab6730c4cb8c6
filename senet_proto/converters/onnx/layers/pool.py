"""Pooling with Caffe's ceil rule and last-window rule (ONNX floor mode with explicit end padding where
ONNX's ceil mode disagrees, and Caffe's AVE divisors)."""

from __future__ import annotations

import numpy as np

from ....caffe.layers import where
from ....caffe.layers.pool import ave_divisor, converted_geometry
from ....errors import PrototxtError
from ...graph import Node
from ..builder import OnnxBuilder
from .common import FLT_MAX, _one, register


@register("Pooling")
def pooling(node: Node, b: OnnxBuilder) -> None:
    g = converted_geometry(node.layer)
    if g.global_pooling:
        _one(node, b, "GlobalMaxPool" if g.mode == "MAX" else "GlobalAveragePool")
        return
    mode, kernel, stride, pad = g.mode, g.kernel, g.stride, g.pad
    _, _, h, w = b.shape(node.bottoms[0])
    outs = g.out_size(h, w)
    if min(outs) <= 0:
        raise PrototxtError(f"{where(node.layer)}: pooling a {h}x{w} blob gives size {outs}")
    # ONNX's ceil_mode does not drop a last window that starts in the padding, so the output size is made
    # explicit: floor mode with end padding that reaches exactly as far as Caffe's last window.
    # Without padding Caffe keeps a last window that starts at the input's end (stride > kernel): it is empty
    # (MAX gives -FLT_MAX, AVE 0/0). Such a window is left out of the pooling and appended to its output by a Pad
    # node. Every other window starts inside the input, and pad < kernel (infer_shapes refuses the net otherwise,
    # as Caffe does), so the pooling's own pads stay below the kernel and no Pad precedes it: runtimes such as
    # ONNX Runtime (version in bench/README.md) refuse pads >= kernel, also after fusing a Pad into the next pooling.
    sizes = (h, w)
    empty = [1 if o > 1 and (o - 1) * s >= n + pp else 0
             for o, s, n, pp in zip(outs, stride, sizes, pad, strict=True)]
    pooled = [o - e for o, e in zip(outs, empty, strict=True)]
    extra = [(o - 1) * s + k - pp - n for o, s, k, pp, n in zip(pooled, stride, kernel, pad, sizes, strict=True)]
    # a negative extra (the last window ends before the input does) needs no end padding: floor mode then still
    # gives the count, as Caffe's ceil rounding keeps -extra < stride
    end = [max(ex, 0) for ex in extra]
    out = b.temp(node, "pooled") if any(empty) else b.output(node, node.tops[0])
    op = "MaxPool" if mode == "MAX" else "AveragePool"
    attrs: dict[str, object] = dict(kernel_shape=list(kernel), strides=list(stride),
                                    pads=[pad[0], pad[1], end[0], end[1]])
    x = b.input(node.bottoms[0])
    if mode == "MAX" or all(ex <= pp for ex, pp in zip(extra, pad, strict=True)):
        # MAX ignores padding; AVE counts padding up to pad, which is exactly Caffe's divisor when extra <= pad.
        if mode == "AVE":
            attrs["count_include_pad"] = 1
        b.add(op, [x], [out], node, **attrs)
    else:
        # every window lies in the padded input: a mean over kh*kw, then Caffe's divisor per position
        mean = b.temp(node, "mean")
        b.add(op, [x], [mean], node, count_include_pad=1, **attrs)
        dh, dw = (ave_divisor(n, o, k, s, pp)[:o2] for n, o, o2, k, s, pp
                  in zip(sizes, outs, pooled, kernel, stride, pad, strict=True))
        _ave_correction(node, b, mean, out, kernel, dh, dw)
    if any(empty):
        value = -FLT_MAX if mode == "MAX" else np.nan  # Caffe: the max of nothing; AVE: 0 / a window size of 0
        b.add("Pad", [out, b.const(node, "empty_windows", [0, 0, 0, 0, 0, 0, empty[0], empty[1]], np.int64),
                      b.const(node, "empty_value", np.array(value, np.float32))],
              [b.output(node, node.tops[0])], node, mode="constant")


def _ave_correction(node: Node, b: OnnxBuilder, mean: str, out: str, kernel: tuple[int, int], dh: np.ndarray,
                    dw: np.ndarray) -> None:
    """Caffe's AVE output from a mean over whole kh*kw windows: times kh*kw / Caffe's divisor per position."""
    with np.errstate(divide="ignore", invalid="ignore"):  # an empty Caffe window divides by zero, as in Caffe
        correction = (kernel[0] * kernel[1]) / np.outer(dh, dw)
    b.add("Mul", [mean, b.const(node, "area_over_divisor", correction.reshape(1, 1, *correction.shape), np.float32)],
          [out], node)

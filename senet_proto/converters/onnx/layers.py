"""One ONNX converter per Caffe layer type: ``fn(node, builder)`` appends ONNX nodes for a graph node.

Caffe semantics are kept exactly: pooling with Caffe's ceil rule and last-window rule (ONNX ceil_mode where it
agrees, explicit padding and divisors where it does not), BatchNorm statistics divided by the third blob
(0 -> 0), Scale/Axpy broadcasting from Caffe's axis, InnerProduct flattening from its axis.
"""

from __future__ import annotations

import numpy as np

from ...caffe import caffe_pb2
from ...errors import PrototxtError, UnsupportedLayerError
from ..graph import Node, batchnorm_stats
from ..lazy import blob_tensor
from ..params import caffe_ave_divisor, caffe_pool_size, caffe_reshape, canonical_axis, per_axis, per_axis_pool
from ..registry import Registry
from .builder import OnnxBuilder

ONNX_CONVERTERS: Registry = Registry("onnx")
register = ONNX_CONVERTERS.register
FLT_MAX = float(np.finfo(np.float32).max)


def _one(node: Node, b: OnnxBuilder, op: str, **attrs: object) -> None:
    b.add(op, [b.input(node.bottoms[0])], [b.output(node, node.tops[0])], node, **attrs)


@register("Convolution")
def convolution(node: Node, b: OnnxBuilder) -> None:
    p = node.layer.convolution_param
    where = f"layer '{node.name}' (Convolution)"
    kernel = per_axis(p, "kernel_size", "kernel_h", "kernel_w", 0, 2, where)
    stride = per_axis(p, "stride", "stride_h", "stride_w", 1, 2, where)
    pad = per_axis(p, "pad", "pad_h", "pad_w", 0, 2, where)
    dilation = per_axis(p, "dilation", "", "", 1, 2, where)
    inputs = [b.input(node.bottoms[0]), b.const(node, "weight", blob_tensor(node.blobs, 0))]  # maybe lazy (folded)
    if len(node.blobs) > 1:
        inputs.append(b.const(node, "bias", node.blobs[1].reshape(-1)))
    b.add("Conv", inputs, [b.output(node, node.tops[0])], node, kernel_shape=list(kernel), strides=list(stride),
          pads=[pad[0], pad[1], pad[0], pad[1]], dilations=list(dilation), group=int(p.group or 1))


@register("InnerProduct")
def inner_product(node: Node, b: OnnxBuilder) -> None:
    p = node.layer.inner_product_param
    x_shape = b.shape(node.bottoms[0])
    axis = canonical_axis(p.axis if p.HasField("axis") else 1, len(x_shape), f"layer '{node.name}'")
    lead, k = int(np.prod(x_shape[:axis])), int(np.prod(x_shape[axis:]))
    x_batch = b.batch_axis(node.bottoms[0])
    if x_batch is not None and x_batch >= axis:
        raise PrototxtError(f"layer '{node.name}' (InnerProduct): the batch axis {x_batch} is flattened into "
                            f"the {k} inputs of the product")
    lead_batch = 0 if x_batch is not None else None  # the batch is (part of) the flattened leading dimension
    lead_is_batch = 0 if axis == 1 and x_batch == 0 else None  # ... or that dimension itself
    flat_dims = b.reshape_dims([lead, k], lead_batch, lead_is_batch)
    flat = b.temp(node, "flat")
    b.add("Reshape", [b.input(node.bottoms[0]), b.const(node, "flat_shape", flat_dims, np.int64)], [flat], node)
    inputs = [flat, b.const(node, "weight", node.blobs[0])]
    if len(node.blobs) > 1:
        inputs.append(b.const(node, "bias", node.blobs[1].reshape(-1)))
    out_shape = b.shape(node.tops[0])
    gemm = b.output(node, node.tops[0]) if len(out_shape) == 2 else b.temp(node, "gemm")
    b.add("Gemm", inputs, [gemm], node, transB=0 if p.transpose else 1)
    if len(out_shape) != 2:
        out_dims = b.reshape_dims(out_shape, b.batch_axis(node.tops[0]), lead_is_batch)
        b.add("Reshape", [gemm, b.const(node, "out_shape", out_dims, np.int64)],
              [b.output(node, node.tops[0])], node)


@register("BatchNorm")
def batch_norm(node: Node, b: OnnxBuilder) -> None:
    p = node.layer.batch_norm_param
    eps = float(p.eps)
    gamma = node.attrs.get("gamma")
    beta = node.attrs.get("beta")
    if p.HasField("use_global_stats") and not p.use_global_stats:
        x = b.input(node.bottoms[0])
        shape = b.shape(node.bottoms[0])
        axes = [0, *range(2, len(shape))]
        c = shape[1]
        per_channel = [1, c] + [1] * (len(shape) - 2)
        m_, centred, sq, v_, var_eps, std = (b.temp(node, w) for w in
                                             ("mean", "centred", "sq", "var", "var_eps", "std"))
        b.add("ReduceMean", [x], [m_], node, axes=axes, keepdims=1)
        b.add("Sub", [x, m_], [centred], node)
        b.add("Mul", [centred, centred], [sq], node)
        b.add("ReduceMean", [sq], [v_], node, axes=axes, keepdims=1)
        b.add("Add", [v_, b.const(node, "eps", np.array(eps, np.float32))], [var_eps], node)
        b.add("Sqrt", [var_eps], [std], node)
        norm = b.temp(node, "norm") if gamma is not None else b.output(node, node.tops[0])
        b.add("Div", [centred, std], [norm], node)
        if gamma is not None:
            scaled = b.temp(node, "scaled")
            b.add("Mul", [norm, b.const(node, "gamma", gamma.reshape(per_channel))], [scaled], node)
            beta_arr = np.zeros(c, np.float32) if beta is None else beta
            b.add("Add", [scaled, b.const(node, "beta", beta_arr.reshape(per_channel))],
                  [b.output(node, node.tops[0])], node)
        return
    mean, var = batchnorm_stats(node)
    c = mean.shape[0]
    gamma = np.ones(c, np.float32) if gamma is None else gamma
    beta = np.zeros(c, np.float32) if beta is None else beta
    inputs = [b.input(node.bottoms[0]), b.const(node, "gamma", gamma), b.const(node, "beta", beta),
              b.const(node, "mean", mean), b.const(node, "var", var)]
    b.add("BatchNormalization", inputs, [b.output(node, node.tops[0])], node, epsilon=eps)


def _broadcast_shape(x_shape: tuple[int, ...], s_shape: tuple[int, ...], axis: int) -> list[int]:
    return [1] * axis + list(s_shape) + [1] * (len(x_shape) - axis - len(s_shape))


def _broadcast_dims(b: OnnxBuilder, x: str, s: str, axis: int) -> list[int]:
    """Reshape target that lines blob ``s`` up with blob ``x`` from ``axis`` (Caffe's Scale/Bias broadcast)."""
    s_batch = b.batch_axis(s)
    at = None if s_batch is None else axis + s_batch
    return b.reshape_dims(_broadcast_shape(b.shape(x), b.shape(s), axis), at, s_batch)


def _broadcast_second_bottom(node: Node, b: OnnxBuilder, axis: int, name: str) -> str:
    """Reshape the second bottom of a Scale/Bias into temp ``name`` (target const ``name_shape``) so that it
    broadcasts over the first bottom from ``axis``; the temp's ONNX name."""
    out = b.temp(node, name)
    dims = _broadcast_dims(b, node.bottoms[0], node.bottoms[1], axis)
    b.add("Reshape", [b.input(node.bottoms[1]), b.const(node, f"{name}_shape", dims, np.int64)], [out], node)
    return out


@register("Scale")
def scale(node: Node, b: OnnxBuilder) -> None:
    p = node.layer.scale_param
    x_shape = b.shape(node.bottoms[0])
    axis = canonical_axis(p.axis if p.HasField("axis") else 1, len(x_shape), f"layer '{node.name}'")
    x = b.input(node.bottoms[0])
    if len(node.bottoms) == 2:
        factor = _broadcast_second_bottom(node, b, axis, "factor")
        blobs = node.blobs
    else:
        gamma = node.blobs[0]
        factor = b.const(node, "gamma", gamma.reshape(_broadcast_shape(x_shape, gamma.shape, axis)))
        blobs = node.blobs[1:]
    has_bias = len(blobs) > 0
    scaled = b.temp(node, "scaled") if has_bias else b.output(node, node.tops[0])
    b.add("Mul", [x, factor], [scaled], node)
    if has_bias:
        bias = b.const(node, "beta", blobs[0].reshape(_broadcast_shape(x_shape, blobs[0].shape, axis)))
        b.add("Add", [scaled, bias], [b.output(node, node.tops[0])], node)


@register("Bias")
def bias(node: Node, b: OnnxBuilder) -> None:
    p = node.layer.bias_param
    x_shape = b.shape(node.bottoms[0])
    axis = canonical_axis(p.axis if p.HasField("axis") else 1, len(x_shape), f"layer '{node.name}'")
    if len(node.bottoms) == 2:
        term = _broadcast_second_bottom(node, b, axis, "bias")
    else:
        term = b.const(node, "bias", node.blobs[0].reshape(_broadcast_shape(x_shape, node.blobs[0].shape, axis)))
    b.add("Add", [b.input(node.bottoms[0]), term], [b.output(node, node.tops[0])], node)


# Element-wise layers that map to one ONNX operator (Dropout is the identity at inference).
UNARY = {"Sigmoid": "Sigmoid", "TanH": "Tanh", "AbsVal": "Abs", "Dropout": "Identity"}


def _unary(op: str):
    def convert(node: Node, b: OnnxBuilder) -> None:
        _one(node, b, op)

    convert.__qualname__ = convert.__name__ = f"unary_{op.lower()}"
    return convert


for _caffe_type, _op in UNARY.items():
    register(_caffe_type)(_unary(_op))


@register("ReLU")
def relu(node: Node, b: OnnxBuilder) -> None:
    slope = float(node.layer.relu_param.negative_slope)
    if slope:
        _one(node, b, "LeakyRelu", alpha=slope)
    else:
        _one(node, b, "Relu")


@register("Power")
def power(node: Node, b: OnnxBuilder) -> None:
    """Caffe's Power: (shift + scale * x) ^ power."""
    p = node.layer.power_param
    steps = [("Mul", "scale", float(p.scale), 1.0), ("Add", "shift", float(p.shift), 0.0),
             ("Pow", "power", float(p.power), 1.0)]
    todo = [s for s in steps if s[2] != s[3]]
    value = b.input(node.bottoms[0])
    if not todo:
        _one(node, b, "Identity")
        return
    for i, (op, what, v, _) in enumerate(todo):
        out = b.output(node, node.tops[0]) if i == len(todo) - 1 else b.temp(node, what)
        b.add(op, [value, b.const(node, what, np.array(v, np.float32))], [out], node)
        value = out


@register("Softmax")
def softmax(node: Node, b: OnnxBuilder) -> None:
    p = node.layer.softmax_param
    axis = canonical_axis(p.axis if p.HasField("axis") else 1, len(b.shape(node.bottoms[0])), f"layer '{node.name}'")
    _one(node, b, "Softmax", axis=axis)


@register("Pooling")
def pooling(node: Node, b: OnnxBuilder) -> None:
    p = node.layer.pooling_param
    where = f"layer '{node.name}' (Pooling)"
    modes = {caffe_pb2.PoolingParameter.MAX: "MAX", caffe_pb2.PoolingParameter.AVE: "AVE"}
    if p.pool not in modes:
        raise UnsupportedLayerError(f"{where}: only MAX and AVE pooling are supported")
    mode = modes[p.pool]
    if p.global_pooling:
        _one(node, b, "GlobalMaxPool" if mode == "MAX" else "GlobalAveragePool")
        return
    kernel = per_axis_pool(p, "kernel_size", "kernel_h", "kernel_w", 0, where)
    stride = per_axis_pool(p, "stride", "stride_h", "stride_w", 1, where)
    pad = per_axis_pool(p, "pad", "pad_h", "pad_w", 0, where)
    _, _, h, w = b.shape(node.bottoms[0])
    any_pad = any(pad)
    outs = [caffe_pool_size(n, k, s, pp, any_pad) for n, k, s, pp in zip((h, w), kernel, stride, pad, strict=True)]
    if min(outs) <= 0:
        raise PrototxtError(f"{where}: pooling a {h}x{w} blob gives size {outs}")
    # ONNX's ceil_mode does not drop a last window that starts in the padding, so the output size is made
    # explicit: floor mode with end padding that reaches exactly as far as Caffe's last window.
    # Without padding Caffe keeps a last window that starts at the input's end (stride > kernel): it is empty
    # (MAX gives -FLT_MAX, AVE 0/0). Such a window is left out of the pooling and appended to its output by a Pad
    # node. Every other window starts inside the input, and pad < kernel (infer_shapes refuses the net otherwise,
    # as Caffe does), so the pooling's own pads stay below the kernel and no Pad precedes it: runtimes such as
    # ONNX Runtime 1.31 refuse pads >= kernel, also after fusing a Pad into the next pooling.
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
        dh, dw = (caffe_ave_divisor(n, o, k, s, pp)[:o2] for n, o, o2, k, s, pp
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


@register("Eltwise")
def eltwise(node: Node, b: OnnxBuilder) -> None:
    p = node.layer.eltwise_param
    inputs = [b.input(x) for x in node.bottoms]
    op = p.operation
    if op == caffe_pb2.EltwiseParameter.SUM:
        coeffs = list(p.coeff) or [1.0] * len(inputs)
        if len(coeffs) != len(inputs):
            raise PrototxtError(f"layer '{node.name}' (Eltwise): {len(coeffs)} coefficients for {len(inputs)} inputs")
        terms = []
        for i, (x, c) in enumerate(zip(inputs, coeffs, strict=True)):
            if c == 1.0:
                terms.append(x)
                continue
            t = b.temp(node, f"term{i}")
            b.add("Mul", [x, b.const(node, f"coeff{i}", np.array(c, np.float32))], [t], node)
            terms.append(t)
        b.add("Sum", terms, [b.output(node, node.tops[0])], node)
    elif op == caffe_pb2.EltwiseParameter.PROD:
        acc = inputs[0]
        for i, x in enumerate(inputs[1:]):
            out = b.output(node, node.tops[0]) if i == len(inputs) - 2 else b.temp(node, f"prod{i}")
            b.add("Mul", [acc, x], [out], node)
            acc = out
    else:
        b.add("Max", inputs, [b.output(node, node.tops[0])], node)


@register("Axpy")
def axpy(node: Node, b: OnnxBuilder) -> None:
    """top = a * X + Y with a of shape N×C (or N×C×1×1): Reshape + Mul + Add."""
    a, x, y = node.bottoms
    n, c = b.shape(x)[:2]
    gate = b.temp(node, "gate")
    dims = b.reshape_dims([n, c, 1, 1], b.batch_axis(x), b.batch_axis(a))
    b.add("Reshape", [b.input(a), b.const(node, "gate_shape", dims, np.int64)], [gate], node)
    scaled = b.temp(node, "scaled")
    b.add("Mul", [gate, b.input(x)], [scaled], node)
    b.add("Add", [scaled, b.input(y)], [b.output(node, node.tops[0])], node)


@register("Concat")
def concat(node: Node, b: OnnxBuilder) -> None:
    p = node.layer.concat_param
    shape = b.shape(node.bottoms[0])
    raw = p.concat_dim if p.HasField("concat_dim") else (p.axis if p.HasField("axis") else 1)  # legacy concat_dim
    axis = canonical_axis(raw, len(shape), f"layer '{node.name}'")
    b.add("Concat", [b.input(x) for x in node.bottoms], [b.output(node, node.tops[0])], node, axis=axis)


@register("Reshape", "Flatten")
def reshape(node: Node, b: OnnxBuilder) -> None:
    target = b.reshape_dims(b.shape(node.tops[0]), b.batch_axis(node.tops[0]), b.batch_axis(node.bottoms[0]))
    b.add("Reshape", [b.input(node.bottoms[0]), b.const(node, "shape", target, np.int64)],
          [b.output(node, node.tops[0])], node)


@register("Split")
def split(node: Node, b: OnnxBuilder) -> None:
    for top in node.tops:
        b.add("Identity", [b.input(node.bottoms[0])], [b.output(node, top)], node)


__all__ = ["ONNX_CONVERTERS", "caffe_reshape"]

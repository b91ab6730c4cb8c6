"""Shape inference with Caffe's semantics, our own (no Caffe needed).

Every layer Caffe would instantiate for the TEST phase is walked in file order;
each gets the shapes of its bottoms and tops. In-place layers (top == bottom)
keep the blob's shape. Unknown layer types raise UnsupportedLayerError naming
the layer and its type; impossible shapes raise PrototxtError.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..caffe import caffe_pb2
from ..caffe.validate import check_graph, check_shape, layers_for_phase
from ..errors import PrototxtError, UnsupportedLayerError, UsageError

Shape = tuple[int, ...]


@dataclass(frozen=True)
class LayerShapes:
    """One layer with the shapes it reads and writes."""

    layer: caffe_pb2.LayerParameter
    bottoms: tuple[Shape, ...]
    tops: tuple[Shape, ...]

    @property
    def name(self) -> str:
        return str(self.layer.name)

    @property
    def type(self) -> str:
        return str(self.layer.type)

    @property
    def in_place(self) -> bool:
        return bool(self.layer.top) and list(self.layer.top) == list(self.layer.bottom)


def _where(layer: caffe_pb2.LayerParameter) -> str:
    return f"layer '{layer.name}' ({layer.type})"


def _axis(axis: int, ndim: int, layer: caffe_pb2.LayerParameter, what: str = "axis") -> int:
    a = axis + ndim if axis < 0 else axis
    if not 0 <= a < ndim:
        raise PrototxtError(f"{_where(layer)}: {what} {axis} out of range for a {ndim}-axis blob")
    return a


def _spatial(rep: Sequence[int], h: int | None, w: int | None, n: int, default: int | None,
             layer: caffe_pb2.LayerParameter, what: str) -> list[int]:
    """Caffe's repeated-or-_h/_w parameter convention for ``n`` spatial axes."""
    if h is not None or w is not None:
        if n != 2:
            raise PrototxtError(f"{_where(layer)}: {what}_h/{what}_w need 2 spatial axes, the input has {n}")
        if rep:
            raise PrototxtError(f"{_where(layer)}: {what} given both as {what} and as {what}_h/{what}_w")
        if h is None or w is None:
            raise PrototxtError(f"{_where(layer)}: both {what}_h and {what}_w are needed")
        return [h, w]
    if not rep:
        if default is None:
            raise PrototxtError(f"{_where(layer)}: {what} is not set")
        return [default] * n
    if len(rep) == 1:
        return [rep[0]] * n
    if len(rep) != n:
        raise PrototxtError(f"{_where(layer)}: {what} has {len(rep)} values for {n} spatial axes")
    return list(rep)


def _opt(msg, field: str) -> int | None:
    return int(getattr(msg, field)) if msg.HasField(field) else None


def _positive(shape: Shape, layer: caffe_pb2.LayerParameter) -> Shape:
    if any(d <= 0 for d in shape):
        raise PrototxtError(f"{_where(layer)}: output shape {shape} has a non-positive dimension "
                            f"(input too small for the kernel?)")
    return shape


def conv_geometry(layer: caffe_pb2.LayerParameter, bottom: Shape) -> tuple[list[int], list[int], list[int], list[int]]:
    """kernel, pad, stride, dilation of a Convolution over ``bottom``'s spatial axes."""
    p = layer.convolution_param
    axis = _axis(p.axis, len(bottom), layer)
    n = len(bottom) - axis - 1
    if n < 1:
        raise PrototxtError(f"{_where(layer)}: input {bottom} has no spatial axes after axis {axis}")
    kernel = _spatial(p.kernel_size, _opt(p, "kernel_h"), _opt(p, "kernel_w"), n, None, layer, "kernel")
    pad = _spatial(p.pad, _opt(p, "pad_h"), _opt(p, "pad_w"), n, 0, layer, "pad") if (
        p.pad or p.HasField("pad_h") or p.HasField("pad_w")) else [0] * n
    stride = _spatial(p.stride, _opt(p, "stride_h"), _opt(p, "stride_w"), n, 1, layer, "stride")
    dilation = _spatial(p.dilation, None, None, n, 1, layer, "dilation")
    if any(k <= 0 for k in kernel) or any(s <= 0 for s in stride) or any(d <= 0 for d in dilation):
        raise PrototxtError(f"{_where(layer)}: kernel, stride and dilation must be positive")
    return kernel, pad, stride, dilation


def _convolution(layer: caffe_pb2.LayerParameter, b: list[Shape]) -> list[Shape]:
    p = layer.convolution_param
    x = b[0]
    axis = _axis(p.axis, len(x), layer)
    kernel, pad, stride, dilation = conv_geometry(layer, x)
    if not p.HasField("num_output") or p.num_output == 0:
        raise PrototxtError(f"{_where(layer)}: num_output must be positive")
    g = p.group
    if g == 0 or x[axis] % g or p.num_output % g:
        raise PrototxtError(f"{_where(layer)}: group {g} must divide the input channels ({x[axis]}) "
                            f"and num_output ({p.num_output})")
    out = [
        (size + 2 * pd - (dl * (k - 1) + 1)) // s + 1
        for size, k, pd, s, dl in zip(x[axis + 1 :], kernel, pad, stride, dilation, strict=True)
    ]
    return [_positive((*x[:axis], p.num_output, *out), layer)]


def pooling_geometry(layer: caffe_pb2.LayerParameter, bottom: Shape) -> tuple[list[int], list[int], list[int]]:
    """kernel, pad, stride of a Pooling over a 4-axis ``bottom`` (global pooling: the whole plane)."""
    p = layer.pooling_param
    if len(bottom) != 4:
        raise PrototxtError(f"{_where(layer)}: Pooling needs a 4-axis input, got {bottom}")
    if p.global_pooling:
        if p.HasField("kernel_size") or p.HasField("kernel_h") or p.HasField("kernel_w"):
            raise PrototxtError(f"{_where(layer)}: with global_pooling the kernel size cannot be set")
        if p.pad or p.pad_h or p.pad_w or p.stride != 1 or p.stride_h or p.stride_w:
            raise PrototxtError(f"{_where(layer)}: with global_pooling only pad 0 and stride 1 are allowed")
        return [bottom[2], bottom[3]], [0, 0], [1, 1]
    kernel = _spatial([p.kernel_size] if p.HasField("kernel_size") else [],
                      _opt(p, "kernel_h"), _opt(p, "kernel_w"), 2, None, layer, "kernel_size")
    pad = [p.pad_h, p.pad_w] if (p.HasField("pad_h") or p.HasField("pad_w")) else [p.pad, p.pad]
    stride = [p.stride_h, p.stride_w] if (p.HasField("stride_h") or p.HasField("stride_w")) else [p.stride] * 2
    if any(k <= 0 for k in kernel) or any(s <= 0 for s in stride):
        raise PrototxtError(f"{_where(layer)}: kernel and stride must be positive")
    if any(pd >= k for pd, k in zip(pad, kernel, strict=True)):
        raise PrototxtError(f"{_where(layer)}: pad {pad} must be smaller than the kernel {kernel}")
    return kernel, pad, stride


def pooled_size(size: int, kernel: int, pad: int, stride: int, ceil: bool = True, any_pad: bool | None = None) -> int:
    """Caffe's pooled size: ceil (or floor) of the window count, minus one if the last window starts in the pad.

    Caffe applies the last-window rule on every axis as soon as any axis has a pad (``any_pad``)."""
    span = size + 2 * pad - kernel
    out = (math.ceil(span / stride) if ceil else span // stride) + 1
    if (pad > 0 if any_pad is None else any_pad) and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def _pooling(layer: caffe_pb2.LayerParameter, b: list[Shape]) -> list[Shape]:
    x = b[0]
    kernel, pad, stride = pooling_geometry(layer, x)
    ceil = layer.pooling_param.round_mode == caffe_pb2.PoolingParameter.CEIL
    any_pad = any(pad)
    out = [pooled_size(s, k, pd, st, ceil, any_pad) for s, k, pd, st in zip(x[2:], kernel, pad, stride, strict=True)]
    tops = [_positive((x[0], x[1], *out), layer)]
    if len(layer.top) == 2:  # MAX pooling may also output the argmax mask
        tops.append(tops[0])
    return tops


def _inner_product(layer: caffe_pb2.LayerParameter, b: list[Shape]) -> list[Shape]:
    p = layer.inner_product_param
    if not p.HasField("num_output") or p.num_output == 0:
        raise PrototxtError(f"{_where(layer)}: num_output must be positive")
    axis = _axis(p.axis, len(b[0]), layer)
    return [(*b[0][:axis], p.num_output)]


def _same(layer: caffe_pb2.LayerParameter, b: list[Shape]) -> list[Shape]:
    return [b[0]] * max(1, len(layer.top))


def _batch_norm(layer: caffe_pb2.LayerParameter, b: list[Shape]) -> list[Shape]:
    if len(b[0]) < 2:
        raise PrototxtError(f"{_where(layer)}: BatchNorm needs a channel axis, got {b[0]}")
    return [b[0]]


def _scale(layer: caffe_pb2.LayerParameter, b: list[Shape]) -> list[Shape]:
    x = b[0]
    p = layer.scale_param
    if len(b) == 2:
        s = b[1]
        axis = _axis(p.axis, len(x), layer) if s else 0
        if tuple(x[axis : axis + len(s)]) != tuple(s):
            raise PrototxtError(f"{_where(layer)}: scale blob {s} does not match input {x} from axis {axis}")
    else:
        scale_shape(layer, x)
    return [x]


def scale_shape(layer: caffe_pb2.LayerParameter, x: Shape) -> Shape:
    """Shape of a one-bottom Scale's learnt scale (and bias) blob."""
    p = layer.scale_param
    axis = _axis(p.axis, len(x), layer)
    if p.num_axes < -1:
        raise PrototxtError(f"{_where(layer)}: num_axes must be -1 or non-negative")
    end = len(x) if p.num_axes == -1 else axis + p.num_axes
    if end > len(x):
        raise PrototxtError(f"{_where(layer)}: num_axes {p.num_axes} from axis {axis} exceeds the input {x}")
    return tuple(x[axis:end])


def _eltwise(layer: caffe_pb2.LayerParameter, b: list[Shape]) -> list[Shape]:
    for s in b[1:]:
        if s != b[0]:
            raise PrototxtError(f"{_where(layer)}: inputs have different shapes {b[0]} and {s}")
    return [b[0]]


def _concat(layer: caffe_pb2.LayerParameter, b: list[Shape]) -> list[Shape]:
    p = layer.concat_param
    raw = p.axis if p.HasField("axis") or not p.HasField("concat_dim") else p.concat_dim
    axis = _axis(raw, len(b[0]), layer)
    total = 0
    for s in b:
        if len(s) != len(b[0]) or s[:axis] != b[0][:axis] or s[axis + 1 :] != b[0][axis + 1 :]:
            raise PrototxtError(f"{_where(layer)}: inputs {b[0]} and {s} differ outside the concat axis {axis}")
        total += s[axis]
    return [(*b[0][:axis], total, *b[0][axis + 1 :])]


def _reshape(layer: caffe_pb2.LayerParameter, b: list[Shape]) -> list[Shape]:
    x = b[0]
    p = layer.reshape_param
    dims = list(p.shape.dim)
    start = p.axis + len(x) + 1 if p.axis < 0 else p.axis
    if not 0 <= start <= len(x):
        raise PrototxtError(f"{_where(layer)}: axis {p.axis} out of range for {x}")
    if p.num_axes < -1:
        raise PrototxtError(f"{_where(layer)}: num_axes must be -1 or non-negative")
    end = len(x) if p.num_axes == -1 else start + p.num_axes
    if end > len(x):
        raise PrototxtError(f"{_where(layer)}: num_axes {p.num_axes} from axis {start} exceeds {x}")
    out: list[int] = []
    infer = -1
    for i, d in enumerate(dims):
        if d == 0:
            if start + i >= len(x):
                raise PrototxtError(f"{_where(layer)}: dim {i} is 0 (copy) but the input {x} has no axis {start + i}")
            out.append(x[start + i])
        elif d == -1:
            if infer >= 0:
                raise PrototxtError(f"{_where(layer)}: only one dim may be -1")
            infer = i
            out.append(1)
        elif d < 0:
            raise PrototxtError(f"{_where(layer)}: dim {d} is invalid (only 0 and -1 are special)")
        else:
            out.append(d)
    new = [*x[:start], *out, *x[end:]]
    count = math.prod(x)
    if infer >= 0:
        rest = math.prod(new)
        if rest == 0 or count % rest:
            raise PrototxtError(f"{_where(layer)}: cannot infer dim {infer}: {count} elements into {tuple(new)}")
        new[start + infer] = count // rest
    if math.prod(new) != count:
        raise PrototxtError(f"{_where(layer)}: cannot reshape {x} ({count} elements) to {tuple(new)}")
    return [tuple(new)]


def _flatten(layer: caffe_pb2.LayerParameter, b: list[Shape]) -> list[Shape]:
    x = b[0]
    p = layer.flatten_param
    start = _axis(p.axis, len(x), layer)
    end = _axis(p.end_axis, len(x), layer, "end_axis")
    if end < start:
        raise PrototxtError(f"{_where(layer)}: end_axis {p.end_axis} is before axis {p.axis}")
    return [(*x[:start], math.prod(x[start : end + 1]), *x[end + 1 :])]


def _axpy(layer: caffe_pb2.LayerParameter, b: list[Shape]) -> list[Shape]:
    a, x, y = b
    if x != y:
        raise PrototxtError(f"{_where(layer)}: X {x} and Y {y} must have the same shape")
    if len(x) < 2 or tuple(a) not in ((x[0], x[1]), (x[0], x[1], 1, 1)):
        raise PrototxtError(f"{_where(layer)}: the scale {a} must be N×C or N×C×1×1 for X {x}")
    return [x]


def _softmax(layer: caffe_pb2.LayerParameter, b: list[Shape]) -> list[Shape]:
    _axis(layer.softmax_param.axis, len(b[0]), layer)
    return [b[0]]


def _split(layer: caffe_pb2.LayerParameter, b: list[Shape]) -> list[Shape]:
    return [b[0]] * len(layer.top)


def _dummy_data(layer: caffe_pb2.LayerParameter, b: list[Shape]) -> list[Shape]:
    p = layer.dummy_data_param
    if p.shape:
        shapes = [tuple(int(d) for d in sh.dim) for sh in p.shape]
    else:  # legacy num/channels/height/width
        n = max(len(p.num), len(p.channels), len(p.height), len(p.width))

        def pick(vals: Sequence[int], i: int) -> int:
            return int(vals[i] if len(vals) > 1 else vals[0])

        try:
            shapes = [(pick(p.num, i), pick(p.channels, i), pick(p.height, i), pick(p.width, i)) for i in range(n)]
        except IndexError:
            raise PrototxtError(f"{_where(layer)}: num, channels, height and width are all needed") from None
    if len(shapes) == 1:
        shapes = shapes * len(layer.top)
    if len(shapes) != len(layer.top):
        raise PrototxtError(f"{_where(layer)}: {len(shapes)} shapes for {len(layer.top)} tops")
    return shapes


def _db_data(layer: caffe_pb2.LayerParameter, b: list[Shape]) -> list[Shape]:
    """Data/ImageData: batch × 3 × crop × crop (these nets read 3-channel images; the database decides)."""
    crop = layer.transform_param.crop_size
    if layer.type == "ImageData":
        p = layer.image_data_param
        channels = 3 if p.is_color else 1
        h, w = (crop, crop) if crop else (p.new_height, p.new_width)
        batch = p.batch_size
    else:
        channels, h, w, batch = 3, crop, crop, layer.data_param.batch_size
    if not (h and w and batch):
        raise PrototxtError(f"{_where(layer)}: its image size comes from the database; shape inference needs "
                            f"transform_param.crop_size (or new_height/new_width) and a batch_size")
    tops = [(batch, channels, h, w), (batch,)]
    return tops[: len(layer.top)]


def _loss(layer: caffe_pb2.LayerParameter, b: list[Shape]) -> list[Shape]:
    return [()] * len(layer.top)


def _accuracy(layer: caffe_pb2.LayerParameter, b: list[Shape]) -> list[Shape]:
    axis = _axis(layer.accuracy_param.axis, len(b[0]), layer)
    return [(), (b[0][axis],)][: len(layer.top)]


Rule = Callable[[caffe_pb2.LayerParameter, list[Shape]], list[Shape]]

MANY = 1 << 20

# type -> (rule, fewest bottoms, most bottoms)
RULES: dict[str, tuple[Rule, int, int]] = {
    "Convolution": (_convolution, 1, 1),
    "Pooling": (_pooling, 1, 1),
    "InnerProduct": (_inner_product, 1, 1),
    "BatchNorm": (_batch_norm, 1, 1),
    "Scale": (_scale, 1, 2),
    "ReLU": (_same, 1, 1),
    "Sigmoid": (_same, 1, 1),
    "TanH": (_same, 1, 1),
    "Dropout": (_same, 1, 1),
    "Power": (_same, 1, 1),
    "AbsVal": (_same, 1, 1),
    "Bias": (_same, 1, 2),
    "Softmax": (_softmax, 1, 1),
    "Eltwise": (_eltwise, 2, MANY),
    "Concat": (_concat, 1, MANY),
    "Reshape": (_reshape, 1, 1),
    "Flatten": (_flatten, 1, 1),
    "Axpy": (_axpy, 3, 3),
    "Split": (_split, 1, 1),
    "DummyData": (_dummy_data, 0, 0),
    "Data": (_db_data, 0, 0),
    "ImageData": (_db_data, 0, 0),
    "SoftmaxWithLoss": (_loss, 2, 3),
    "Accuracy": (_accuracy, 2, 3),
}

KNOWN_TYPES = ("Input", *RULES)


def input_shapes(net: caffe_pb2.NetParameter) -> dict[str, Shape]:
    """Shapes of the net-level (legacy) inputs: ``input`` + ``input_shape`` or ``input_dim``."""
    shapes: dict[str, Shape] = {}
    for i, name in enumerate(net.input):
        if i < len(net.input_shape):
            dims = tuple(int(d) for d in net.input_shape[i].dim)
        elif len(net.input_dim) >= 4 * (i + 1):
            dims = tuple(int(d) for d in net.input_dim[4 * i : 4 * i + 4])
        else:
            raise PrototxtError(f"input '{name}' has no shape (input_shape or 4 input_dim values)")
        shapes[name] = dims
    return shapes


def with_input_shape(net: caffe_pb2.NetParameter, shape: Sequence[int]) -> caffe_pb2.NetParameter:
    """A copy of ``net`` whose single input has ``shape``."""
    check_shape(list(shape), "--input-shape")
    out = caffe_pb2.NetParameter()
    out.CopyFrom(net)
    inputs = [ly for ly in layers_for_phase(out) if ly.type == "Input"]
    count = len(out.input) + sum(len(ly.top) for ly in inputs)
    if count != 1:
        raise UsageError(f"an input shape can only be given for a net with exactly one Input (this one has {count})")
    if out.input:
        del out.input_dim[:]
        del out.input_shape[:]
        out.input_shape.add().dim.extend(shape)
    else:
        p = inputs[0].input_param
        del p.shape[:]
        p.shape.add().dim.extend(shape)
    return out


def infer_layers(net: caffe_pb2.NetParameter, input_shape: Sequence[int] | None = None) -> list[LayerShapes]:
    """Every TEST-phase layer in order with its bottom and top shapes."""
    if len(net.layers) and not len(net.layer):
        raise PrototxtError("legacy V1 'layers' nets are not supported here: upgrade the file to 'layer' first")
    if input_shape is not None:
        net = with_input_shape(net, input_shape)
    check_graph(net)
    blobs: dict[str, Shape] = dict(input_shapes(net))
    result: list[LayerShapes] = []
    for layer in layers_for_phase(net):
        bottoms = tuple(blobs[b] for b in layer.bottom)
        if layer.type == "Input":
            shapes = list(layer.input_param.shape)
            if len(shapes) not in (1, len(layer.top)):
                raise PrototxtError(f"{_where(layer)}: {len(shapes)} shapes for {len(layer.top)} tops")
            tops = tuple(tuple(int(d) for d in shapes[0 if len(shapes) == 1 else i].dim)
                         for i in range(len(layer.top)))
        else:
            rule = RULES.get(layer.type)
            if rule is None:
                raise UnsupportedLayerError(
                    f"{_where(layer)}: shape inference does not know layer type '{layer.type}' "
                    f"(known: {', '.join(sorted(KNOWN_TYPES))})")
            fn, lo, hi = rule
            if not lo <= len(bottoms) <= hi:
                expected = str(lo) if lo == hi else f"{lo} or {hi}" if hi == lo + 1 else f"at least {lo}"
                raise PrototxtError(f"{_where(layer)}: {len(bottoms)} bottoms, expected {expected}")
            if not layer.top:
                raise PrototxtError(f"{_where(layer)}: no top blob")
            out = fn(layer, list(bottoms))
            if len(out) != len(layer.top):
                raise PrototxtError(f"{_where(layer)}: {len(layer.top)} tops, expected {len(out)}")
            tops = tuple(out)
        for name, shape in zip(layer.top, tops, strict=True):
            if shape:  # losses and accuracies are scalars
                check_shape(list(shape), f"{_where(layer)} top '{name}'")
            blobs[name] = shape
        result.append(LayerShapes(layer, bottoms, tops))
    return result


def infer_shapes(net: caffe_pb2.NetParameter, input_shape: Sequence[int] | None = None) -> dict[str, Shape]:
    """Blob name -> shape after the whole net has run (in-place blobs keep their shape)."""
    shapes = dict(input_shapes(net if input_shape is None else with_input_shape(net, input_shape)))
    for ls in infer_layers(net, input_shape):
        for name, shape in zip(ls.layer.top, ls.tops, strict=True):
            shapes[name] = shape
    return shapes

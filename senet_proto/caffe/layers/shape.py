"""Layers that move or combine blobs: Input, Reshape, Flatten, Concat, Slice, Split, Silence, Eltwise, Axpy,
Softmax."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

from ...errors import PrototxtError
from .. import caffe_pb2
from .base import MANY, Cost, Layer, LayerSpec, Shape, add, canonical_axis, where


def input_layer_shapes(layer: Layer) -> list[Shape]:
    """Caffe's InputLayer: one shape for all tops, one per top, or none (the tops stay empty: ``()``)."""
    shapes = list(layer.input_param.shape)
    if len(shapes) not in (0, 1, len(layer.top)):
        raise PrototxtError(f"{where(layer)}: {len(shapes)} shapes for {len(layer.top)} tops")
    return [tuple(int(d) for d in shapes[0 if len(shapes) == 1 else i].dim) if shapes else ()
            for i in range(len(layer.top))]


def legacy_input_shapes(net: caffe_pb2.NetParameter) -> dict[str, Shape]:
    """The net-level inputs of an old net: ``input`` names with ``input_shape`` or 4 ``input_dim`` values each
    (``()`` where neither gives a shape)."""
    shapes: dict[str, Shape] = {}
    for i, name in enumerate(net.input):
        if i < len(net.input_shape):
            shapes[name] = tuple(int(d) for d in net.input_shape[i].dim)
        elif len(net.input_dim) >= 4 * (i + 1):
            shapes[name] = tuple(int(d) for d in net.input_dim[4 * i: 4 * i + 4])
        else:
            shapes[name] = ()
    return shapes


def _input(layer: Layer, b: list[Shape]) -> list[Shape]:
    if not layer.input_param.shape:
        raise PrototxtError(f"{where(layer)}: 0 shapes for {len(layer.top)} tops")
    return input_layer_shapes(layer)


def reshaped(x: Shape, dims: Sequence[int], axis: int, num_axes: int, what: str) -> Shape:
    """Caffe's ReshapeLayer::Reshape: ``dims`` replace axes [axis, axis + num_axes) of ``x`` (0 copies the
    input's dim, one -1 is inferred); ``what`` names the layer in errors."""
    start = axis + len(x) + 1 if axis < 0 else axis
    if not 0 <= start <= len(x):
        raise PrototxtError(f"{what}: axis {axis} out of range for {x}")
    if num_axes < -1:
        raise PrototxtError(f"{what}: num_axes must be -1 or non-negative")
    end = len(x) if num_axes == -1 else start + num_axes
    if end > len(x):
        raise PrototxtError(f"{what}: num_axes {num_axes} from axis {start} exceeds {x}")
    out: list[int] = []
    infer = -1
    for i, d in enumerate(dims):
        if d == 0:
            if start + i >= len(x):
                raise PrototxtError(f"{what}: dim {i} is 0 (copy) but the input {x} has no axis {start + i}")
            out.append(x[start + i])
        elif d == -1:
            if infer >= 0:
                raise PrototxtError(f"{what}: only one dim may be -1")
            infer = i
            out.append(1)
        elif d < 0:
            raise PrototxtError(f"{what}: dim {d} is invalid (only 0 and -1 are special)")
        else:
            out.append(d)
    new = [*x[:start], *out, *x[end:]]
    total = math.prod(x)
    if infer >= 0:
        rest = math.prod(new)
        if rest == 0 or total % rest:
            raise PrototxtError(f"{what}: cannot infer dim {infer}: {total} elements into {tuple(new)}")
        new[start + infer] = total // rest
    if math.prod(new) != total:
        raise PrototxtError(f"{what}: cannot reshape {x} ({total} elements) to {tuple(new)}")
    return tuple(new)


def _reshape(layer: Layer, b: list[Shape]) -> list[Shape]:
    p = layer.reshape_param
    return [reshaped(b[0], [int(d) for d in p.shape.dim], p.axis, p.num_axes, where(layer))]


def _flatten(layer: Layer, b: list[Shape]) -> list[Shape]:
    x = b[0]
    p = layer.flatten_param
    start = canonical_axis(p.axis, len(x), layer)
    end = canonical_axis(p.end_axis, len(x), layer, "end_axis")
    if end < start:
        raise PrototxtError(f"{where(layer)}: end_axis {p.end_axis} is before axis {p.axis}")
    return [(*x[:start], math.prod(x[start: end + 1]), *x[end + 1:])]


def concat_raw_axis(layer: Layer) -> int:
    """The concatenation axis as given (the legacy concat_dim when set, as in Caffe), before canonicalising."""
    p = layer.concat_param
    if p.HasField("axis") and p.HasField("concat_dim"):
        raise PrototxtError(f"{where(layer)}: either axis or concat_dim should be specified; not both")
    return int(p.concat_dim if p.HasField("concat_dim") else p.axis)


def concat_axis(layer: Layer, ndim: int) -> int:
    return canonical_axis(concat_raw_axis(layer), ndim, layer)


def _concat(layer: Layer, b: list[Shape]) -> list[Shape]:
    axis = concat_axis(layer, len(b[0]))
    total = 0
    for s in b:
        if len(s) != len(b[0]) or s[:axis] != b[0][:axis] or s[axis + 1:] != b[0][axis + 1:]:
            raise PrototxtError(f"{where(layer)}: inputs {b[0]} and {s} differ outside the concat axis {axis}")
        total += s[axis]
    return [(*b[0][:axis], total, *b[0][axis + 1:])]


def slice_axis(layer: Layer, ndim: int) -> int:
    """The slicing axis (the legacy slice_dim wins when set, as in Caffe)."""
    p = layer.slice_param
    if p.HasField("axis") and p.HasField("slice_dim"):
        raise PrototxtError(f"{where(layer)}: either axis or slice_dim should be specified; not both")
    return canonical_axis(p.slice_dim if p.HasField("slice_dim") else p.axis, ndim, layer)


def slice_sizes(layer: Layer, x: Shape) -> tuple[int, tuple[int, ...]]:
    """Caffe's SliceLayer::Reshape: the axis and each top's extent along it (slice_point, or equal parts)."""
    axis = slice_axis(layer, len(x))
    n, size = len(layer.top), x[axis]
    points = [int(v) for v in layer.slice_param.slice_point]
    if points:
        if len(points) != n - 1:
            raise PrototxtError(f"{where(layer)}: {len(points)} slice points for {n} tops (needs {n - 1})")
        bounds = [0, *points, size]
        if any(b <= a for a, b in itertools.pairwise(bounds)):
            raise PrototxtError(f"{where(layer)}: slice points {points} must increase within axis {axis} "
                                f"of size {size}")
        return axis, tuple(b - a for a, b in itertools.pairwise(bounds))
    if size % n:
        raise PrototxtError(f"{where(layer)}: axis {axis} of size {size} cannot be sliced into {n} equal tops")
    return axis, (size // n,) * n


def _slice(layer: Layer, b: list[Shape]) -> list[Shape]:
    x = b[0]
    axis, sizes = slice_sizes(layer, x)
    return [(*x[:axis], s, *x[axis + 1:]) for s in sizes]


def _split(layer: Layer, b: list[Shape]) -> list[Shape]:
    return [b[0]] * len(layer.top)


def _silence(layer: Layer, b: list[Shape]) -> list[Shape]:
    return []


def eltwise_coeffs(layer: Layer, n: int) -> list[float]:
    """SUM's coefficients (1 each unless given; then one per bottom); other operations take none."""
    p = layer.eltwise_param
    if p.coeff and p.operation != caffe_pb2.EltwiseParameter.SUM:
        raise PrototxtError(f"{where(layer)}: only SUM takes coefficients")
    if p.coeff and len(p.coeff) != n:
        raise PrototxtError(f"{where(layer)}: {len(p.coeff)} coefficients for {n} inputs")
    return [float(c) for c in p.coeff] or [1.0] * n


def _eltwise(layer: Layer, b: list[Shape]) -> list[Shape]:
    eltwise_coeffs(layer, len(b))
    for s in b[1:]:
        if s != b[0]:
            raise PrototxtError(f"{where(layer)}: inputs have different shapes {b[0]} and {s}")
    return [b[0]]


def _axpy(layer: Layer, b: list[Shape]) -> list[Shape]:
    a, x, y = b
    if x != y:
        raise PrototxtError(f"{where(layer)}: X {x} and Y {y} must have the same shape")
    if len(x) < 2 or tuple(a) not in ((x[0], x[1]), (x[0], x[1], 1, 1)):
        raise PrototxtError(f"{where(layer)}: the scale {a} must be N×C or N×C×1×1 for X {x}")
    return [x]


def _axpy_cost(layer: Layer, b: list[Shape], t: list[Shape]) -> Cost:
    """a·x + y: one MAC per output element."""
    return Cost(macs=math.prod(t[0]))


def _softmax(layer: Layer, b: list[Shape]) -> list[Shape]:
    canonical_axis(layer.softmax_param.axis, len(b[0]), layer)
    return [b[0]]


add(
    LayerSpec("Input", _input, (0, 0)),
    LayerSpec("Reshape", _reshape),
    LayerSpec("Flatten", _flatten),
    LayerSpec("Concat", _concat, (1, MANY)),
    LayerSpec("Slice", _slice),
    LayerSpec("Split", _split),
    LayerSpec("Silence", _silence, (1, MANY), needs_top=False),
    LayerSpec("Eltwise", _eltwise, (2, MANY)),
    LayerSpec("Axpy", _axpy, (3, 3), cost=_axpy_cost),
    LayerSpec("Softmax", _softmax, in_place=True),
)

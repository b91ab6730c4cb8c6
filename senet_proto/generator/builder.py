"""A small net builder: appends caffe_pb2 layers and tracks blob shapes.

Like Caffe's own net_spec.py, the net is built as protobuf messages; text is
printed by protobuf. Shapes are tracked with the layer catalogue's rules so that the
generator can validate options (input too small) and pick the final pooling.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..caffe import caffe_pb2
from ..caffe.layers.conv import conv_geometry
from ..caffe.layers.pool import pool_geometry
from ..errors import UsageError


@dataclass
class NetBuilder:
    """Appends layers to a NetParameter; ``shapes`` maps blob name -> (N, C, H, W) or (N, C)."""

    name: str
    explicit_stride: bool = True
    # train_val nets: explicit initial values (Caffe's default filler is the constant 0, which never learns)
    fillers: bool = False
    net: caffe_pb2.NetParameter = field(default_factory=caffe_pb2.NetParameter)
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.net.name = self.name

    def _layer(self, name: str, type_: str, bottoms: list[str], tops: list[str]) -> caffe_pb2.LayerParameter:
        layer = self.net.layer.add()
        layer.name = name
        layer.type = type_
        layer.bottom.extend(bottoms)
        layer.top.extend(tops)
        return layer

    def _fill(self, weight: caffe_pb2.FillerParameter, bias: caffe_pb2.FillerParameter | None,
              kind: str = "msra") -> None:
        """He et al.'s "msra" (or a small gaussian) for weights, the constant 0 for biases; train_val only."""
        if not self.fillers:
            return
        weight.type = kind
        if kind == "gaussian":
            weight.std = 0.01
        if bias is not None:
            bias.type = "constant"
            bias.value = 0.0

    def _spatial(self, blob: str) -> tuple[int, ...]:
        shape = self.shapes[blob]
        if len(shape) != 4:
            raise UsageError(f"layer input '{blob}' is not 4-D: {shape}")
        return shape

    def _check_positive(self, layer: str, shape: tuple[int, ...]) -> None:
        if min(shape) <= 0:
            raise UsageError(
                f"the input is too small for this net: layer '{layer}' would output shape {shape} "
                "(use a larger --input-shape)"
            )

    # -- layers ---------------------------------------------------------------------------------

    def input(self, name: str, shape: tuple[int, ...]) -> str:
        layer = self._layer(name, "Input", [], [name])
        layer.input_param.shape.add().dim.extend(shape)
        self.shapes[name] = tuple(shape)
        return name

    def conv(
        self,
        name: str,
        bottom: str,
        num_output: int,
        kernel: int,
        stride: int = 1,
        pad: int = 0,
        group: int = 1,
        bias: bool = False,
        explicit_stride: bool | None = None,
    ) -> str:
        layer = self._layer(name, "Convolution", [bottom], [name])
        p = layer.convolution_param
        p.num_output = num_output
        if not bias:
            p.bias_term = False
        if pad:
            p.pad.append(pad)
        p.kernel_size.append(kernel)
        if group != 1:
            p.group = group
        if stride != 1 or (self.explicit_stride if explicit_stride is None else explicit_stride):
            p.stride.append(stride)
        self._fill(p.weight_filler, p.bias_filler if bias else None)
        n, _, h, w = self._spatial(bottom)
        shape = (n, num_output, *conv_geometry(layer, 2).out_size((h, w)))
        self._check_positive(name, shape)
        self.shapes[name] = shape
        return name

    def batchnorm_scale(self, blob: str, use_global_stats: bool | None = True) -> None:
        bn = self._layer(f"{blob}/bn", "BatchNorm", [blob], [blob])
        if use_global_stats is not None:
            bn.batch_norm_param.use_global_stats = use_global_stats
        scale = self._layer(f"{blob}/bn/scale", "Scale", [blob], [blob])
        scale.scale_param.bias_term = True
        if self.fillers:  # Caffe's defaults, written out: gamma 1, beta 0
            scale.scale_param.filler.type = "constant"
            scale.scale_param.filler.value = 1.0
            scale.scale_param.bias_filler.type = "constant"
            scale.scale_param.bias_filler.value = 0.0

    def relu(self, name: str, blob: str) -> None:
        self._layer(name, "ReLU", [blob], [blob])

    def sigmoid(self, name: str, blob: str) -> None:
        self._layer(name, "Sigmoid", [blob], [blob])

    def pool(self, name: str, bottom: str, method: str, kernel: int, stride: int, pad: int = 0) -> str:
        layer = self._layer(name, "Pooling", [bottom], [name])
        p = layer.pooling_param
        p.pool = caffe_pb2.PoolingParameter.PoolMethod.Value(method)
        p.kernel_size = kernel
        p.stride = stride
        if pad:
            p.pad = pad
        n, c, h, w = self._spatial(bottom)
        shape = (n, c, *pool_geometry(layer).out_size(h, w))
        self._check_positive(name, shape)
        self.shapes[name] = shape
        return name

    def crop_end(self, name: str, bottom: str, size: tuple[int, int]) -> str:
        """Keep the first ``size`` rows and columns of a 4-D blob: a Slice per axis that is too long, its rest
        consumed by a Silence layer (stock Caffe 1.0 layers; Caffe would otherwise make the rest a net output)."""
        x = bottom
        for axis, (suffix, keep) in enumerate((("h", size[0]), ("w", size[1])), start=2):
            if self.shapes[x][axis] == keep:
                continue
            top, rest = f"{name}/crop_{suffix}", f"{name}/crop_{suffix}/rest"
            layer = self._layer(top, "Slice", [x], [top, rest])
            layer.slice_param.axis = axis
            layer.slice_param.slice_point.append(keep)
            self._layer(f"{top}/silence", "Silence", [rest], [])
            shape = list(self.shapes[x])
            shape[axis] = keep
            self.shapes[top] = tuple(shape)
            x = top
        return x

    def global_pool(self, name: str, bottom: str, engine_caffe: bool = True) -> str:
        layer = self._layer(name, "Pooling", [bottom], [name])
        p = layer.pooling_param
        p.pool = caffe_pb2.PoolingParameter.AVE
        if engine_caffe:
            p.engine = caffe_pb2.PoolingParameter.CAFFE
        p.global_pooling = True
        n, c, _, _ = self._spatial(bottom)
        self.shapes[name] = (n, c, 1, 1)
        return name

    def inner_product(self, name: str, bottom: str, num_output: int, filler: str = "msra",
                      lr_mult: float = 1.0) -> str:
        """A fully connected layer; ``lr_mult`` != 1 sets its weights' (and twice that for the biases')."""
        layer = self._layer(name, "InnerProduct", [bottom], [name])
        p = layer.inner_product_param
        p.num_output = num_output
        self._fill(p.weight_filler, p.bias_filler, filler)
        if lr_mult != 1.0:
            for mult, decay in ((lr_mult, 1.0), (2 * lr_mult, 0.0)):
                spec = layer.param.add()
                spec.lr_mult = mult
                spec.decay_mult = decay
        self.shapes[name] = (self.shapes[bottom][0], num_output)
        return name

    def reshape_nc(self, name: str, bottom: str) -> str:
        """Reshape N×C×1×1 to N×C (dims 0, 0: copy the first two axes)."""
        layer = self._layer(name, "Reshape", [bottom], [name])
        layer.reshape_param.shape.dim.extend([0, 0])
        self.shapes[name] = self.shapes[bottom][:2]
        return name

    def scale_by(self, name: str, data: str, scale: str, top: str) -> str:
        """Scale with two bottoms: data (N×C×H×W) times scale (N×C) broadcast from axis 0."""
        layer = self._layer(name, "Scale", [data, scale], [top])
        layer.scale_param.axis = 0
        layer.scale_param.bias_term = False
        self.shapes[top] = self.shapes[data]
        return top

    def axpy(self, name: str, a: str, x: str, y: str) -> str:
        self._layer(name, "Axpy", [a, x, y], [name])
        self.shapes[name] = self.shapes[x]
        return name

    def eltwise_sum(self, name: str, bottoms: list[str]) -> str:
        self._layer(name, "Eltwise", bottoms, [name])
        self.shapes[name] = self.shapes[bottoms[0]]
        return name

    def concat(self, name: str, bottoms: list[str]) -> str:
        self._layer(name, "Concat", bottoms, [name])
        first = self.shapes[bottoms[0]]
        channels = sum(self.shapes[b][1] for b in bottoms)
        for b in bottoms[1:]:
            if self.shapes[b][2:] != first[2:]:
                raise UsageError(
                    f"concat '{name}': branch shapes {[self.shapes[x] for x in bottoms]} differ "
                    "(this input size does not suit the net)"
                )
        self.shapes[name] = (first[0], channels, *first[2:])
        return name

    def dropout(self, name: str, blob: str, ratio: float) -> None:
        layer = self._layer(name, "Dropout", [blob], [blob])
        layer.dropout_param.dropout_ratio = ratio

    def softmax(self, name: str, bottom: str) -> str:
        self._layer(name, "Softmax", [bottom], [name])
        self.shapes[name] = self.shapes[bottom]
        return name

    def raw(self, name: str, type_: str, bottoms: list[str], tops: list[str]) -> caffe_pb2.LayerParameter:
        """A layer whose parameters the caller fills in (data, loss and accuracy layers)."""
        return self._layer(name, type_, bottoms, tops)

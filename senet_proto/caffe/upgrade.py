"""Upgrade legacy Caffe nets to the current format, as Caffe's upgrade_proto.cpp does.

- V1 ``layers`` (enum ``type``) become ``layer`` (string ``type``); ``blobs_lr`` and
  ``weight_decay`` become ``param { lr_mult decay_mult }`` (UpgradeV1LayerParameter).
- Legacy net inputs (``input`` + ``input_dim``/``input_shape``) become a leading
  ``Input`` layer named ``input`` (UpgradeNetInput).
- BatchNorm ``param`` specs are dropped (UpgradeNetBatchNorm).
- Blobs stored with ``num/channels/height/width`` get a 4-D ``shape`` (Blob::FromProto).
- ``Python`` layers named Axpy become ``Axpy`` layers (``python_axpy``; not Caffe's, the SENet users' spelling).

V0 nets (``layers { layer { ... } }``, before 2014) are rejected with a clear error.
"""

from __future__ import annotations

from ..errors import PrototxtError
from . import caffe_pb2
from .python_axpy import read_python_axpy

# UpgradeV1LayerType in upgrade_proto.cpp
V1_TYPE_NAMES: dict[str, str] = {
    "NONE": "",
    "ABSVAL": "AbsVal",
    "ACCURACY": "Accuracy",
    "ARGMAX": "ArgMax",
    "BNLL": "BNLL",
    "CONCAT": "Concat",
    "CONTRASTIVE_LOSS": "ContrastiveLoss",
    "CONVOLUTION": "Convolution",
    "DECONVOLUTION": "Deconvolution",
    "DATA": "Data",
    "DROPOUT": "Dropout",
    "DUMMY_DATA": "DummyData",
    "EUCLIDEAN_LOSS": "EuclideanLoss",
    "ELTWISE": "Eltwise",
    "EXP": "Exp",
    "FLATTEN": "Flatten",
    "HDF5_DATA": "HDF5Data",
    "HDF5_OUTPUT": "HDF5Output",
    "HINGE_LOSS": "HingeLoss",
    "IM2COL": "Im2col",
    "IMAGE_DATA": "ImageData",
    "INFOGAIN_LOSS": "InfogainLoss",
    "INNER_PRODUCT": "InnerProduct",
    "LRN": "LRN",
    "MEMORY_DATA": "MemoryData",
    "MULTINOMIAL_LOGISTIC_LOSS": "MultinomialLogisticLoss",
    "MVN": "MVN",
    "POOLING": "Pooling",
    "POWER": "Power",
    "RELU": "ReLU",
    "SIGMOID": "Sigmoid",
    "SIGMOID_CROSS_ENTROPY_LOSS": "SigmoidCrossEntropyLoss",
    "SILENCE": "Silence",
    "SOFTMAX": "Softmax",
    "SOFTMAX_LOSS": "SoftmaxWithLoss",
    "SPLIT": "Split",
    "SLICE": "Slice",
    "TANH": "TanH",
    "WINDOW_DATA": "WindowData",
    "THRESHOLD": "Threshold",
}

# V1 fields copied verbatim (same name and type in LayerParameter)
_V1_COPIED = (
    "accuracy_param", "argmax_param", "concat_param", "contrastive_loss_param", "convolution_param",
    "data_param", "dropout_param", "dummy_data_param", "eltwise_param", "exp_param", "hdf5_data_param",
    "hdf5_output_param", "hinge_loss_param", "image_data_param", "infogain_loss_param",
    "inner_product_param", "lrn_param", "memory_data_param", "mvn_param", "pooling_param", "power_param",
    "relu_param", "sigmoid_param", "softmax_param", "slice_param", "tanh_param", "threshold_param",
    "window_data_param", "transform_param", "loss_param",
)


def upgrade_v1_layer(v1: caffe_pb2.V1LayerParameter) -> caffe_pb2.LayerParameter:
    """One V1 ``layers`` entry as a current ``layer`` (UpgradeV1LayerParameter)."""
    if v1.HasField("layer"):
        raise PrototxtError(f"layer '{v1.name}': V0 layer format (layers {{ layer {{ ... }} }}) is not supported")
    out = caffe_pb2.LayerParameter()
    out.name = v1.name
    out.bottom.extend(v1.bottom)
    out.top.extend(v1.top)
    if v1.HasField("type"):
        enum_name = caffe_pb2.V1LayerParameter.LayerType.Name(v1.type)
        out.type = V1_TYPE_NAMES[enum_name]
    out.include.extend(v1.include)
    out.exclude.extend(v1.exclude)
    out.loss_weight.extend(v1.loss_weight)
    out.blobs.extend(v1.blobs)
    n_param = max(len(v1.param), len(v1.blob_share_mode), len(v1.blobs_lr), len(v1.weight_decay))
    for i in range(n_param):
        p = out.param.add()
        if i < len(v1.param):
            p.name = v1.param[i]
        if i < len(v1.blob_share_mode):
            p.share_mode = v1.blob_share_mode[i]
        if i < len(v1.blobs_lr):
            p.lr_mult = v1.blobs_lr[i]
        if i < len(v1.weight_decay):
            p.decay_mult = v1.weight_decay[i]
    for field in _V1_COPIED:
        if v1.HasField(field):
            getattr(out, field).CopyFrom(getattr(v1, field))
    return out


def upgrade_blob_shape(blob: caffe_pb2.BlobProto) -> None:
    """Give a legacy blob (num/channels/height/width) the 4-D shape Caffe's Blob::FromProto reads."""
    if blob.HasField("shape"):
        return
    legacy = ("num", "channels", "height", "width")
    if any(blob.HasField(f) for f in legacy):
        blob.shape.dim.extend(getattr(blob, f) for f in legacy)  # unset legacy fields read as 0, as in Caffe
        for f in legacy:
            blob.ClearField(f)


def needs_upgrade(net: caffe_pb2.NetParameter) -> bool:
    return bool(len(net.layers) or len(net.input) or len(net.input_dim) or len(net.input_shape))


def upgrade_net(net: caffe_pb2.NetParameter) -> caffe_pb2.NetParameter:
    """Return a copy of ``net`` in the current format (the original is left untouched)."""
    out = caffe_pb2.NetParameter()
    out.CopyFrom(net)
    if len(out.layers):
        if len(out.layer):
            raise PrototxtError("the net mixes V1 'layers' and current 'layer' entries (Caffe refuses this too)")
        upgraded = [upgrade_v1_layer(v1) for v1 in out.layers]
        out.ClearField("layers")
        out.layer.extend(upgraded)
    if len(out.input):
        _upgrade_input(out)
    elif len(out.input_dim) or len(out.input_shape):
        raise PrototxtError("input_dim/input_shape given without 'input' names")
    for layer in out.layer:
        if layer.type == "BatchNorm" and len(layer.param):
            layer.ClearField("param")
        for blob in layer.blobs:
            upgrade_blob_shape(blob)
    read_python_axpy(out)
    return out


def _upgrade_input(net: caffe_pb2.NetParameter) -> None:
    """UpgradeNetInput: net-level inputs become one leading ``Input`` layer named ``input``."""
    names = list(net.input)
    if len(net.input_shape):
        if len(net.input_shape) != len(names):
            raise PrototxtError(f"{len(names)} net inputs but {len(net.input_shape)} input_shape entries")
        shapes = [list(s.dim) for s in net.input_shape]
    elif len(net.input_dim):
        if len(net.input_dim) != 4 * len(names):
            raise PrototxtError(
                f"{len(names)} net inputs need {4 * len(names)} input_dim values, got {len(net.input_dim)}"
            )
        dims = list(net.input_dim)
        shapes = [dims[4 * i : 4 * i + 4] for i in range(len(names))]
    else:
        raise PrototxtError(f"net input '{names[0]}' has no input_dim or input_shape")
    layer = caffe_pb2.LayerParameter(name="input", type="Input")
    layer.top.extend(names)
    for dims_i in shapes:
        layer.input_param.shape.add().dim.extend(dims_i)
    existing = list(net.layer)
    net.ClearField("layer")
    net.layer.append(layer)
    net.layer.extend(existing)
    net.ClearField("input")
    net.ClearField("input_dim")
    net.ClearField("input_shape")

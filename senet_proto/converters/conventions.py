"""Conventions of the official SENet weights, as conversion options with honest defaults.

The official caffemodels take BGR input in 0-255 minus the mean (104, 117, 123)
(no std division) and output the 1000 classes in their own order. Options:

- ``class_order``: ``official`` (default, unchanged) or ``imagenet``: the classifier
  rows are permuted to the standard (sorted synset) order with the shipped
  ``data/label_map.csv`` (``index_in_official_weights,index_in_standard_order``).
- ``input``: ``bgr255`` (default, unchanged) or ``rgb255``: the input channels of the
  convolutions that read the net's input are flipped, so the converted net takes
  RGB 0-255 (mean (123, 117, 104) in RGB order, still subtracted by the caller).

Both are applied to the weights of a loaded ``CaffeNet`` before any export, and
``metadata()`` records them next to the weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import numpy as np

from .. import __version__
from ..errors import UsageError
from .loader import CaffeNet

CLASS_ORDERS = ("official", "imagenet")
INPUT_FORMATS = ("bgr255", "rgb255")
BGR_MEAN = (104.0, 117.0, 123.0)


@dataclass(frozen=True)
class ConvertOptions:
    fuse_bn: bool = False
    allow_extra: bool = False
    class_order: str = "official"
    input: str = "bgr255"
    timm_model: str | None = None  # --to timm: the timm model name (None: inferred from the net's structure)
    external_data: bool = False  # --to onnx: the weights in ONNX's external-data format (OUT.data beside OUT)

    def validate(self) -> None:
        if self.class_order not in CLASS_ORDERS:
            raise UsageError(f"--class-order must be one of {', '.join(CLASS_ORDERS)}, got {self.class_order!r}")
        if self.input not in INPUT_FORMATS:
            raise UsageError(f"--input must be one of {', '.join(INPUT_FORMATS)}, got {self.input!r}")


def label_map() -> np.ndarray:
    """``official[standard]``: the official class index of each standard-order class (from the shipped CSV)."""
    text = resources.files("senet_proto.data").joinpath("label_map.csv").read_text()
    rows = [line.split(",") for line in text.splitlines() if line.strip() and not line.startswith("#")]
    perm = np.empty(len(rows), dtype=np.int64)
    for official, standard in rows:
        perm[int(standard)] = int(official)
    return perm


def classifier_layer(caffenet: CaffeNet) -> str:
    """The classifier: the last layer (TEST phase) with weights of type InnerProduct or Convolution."""
    for layer in reversed(caffenet.layers()):
        if layer.type in ("InnerProduct", "Convolution") and caffenet.weights.get(layer.name):
            return str(layer.name)
    raise UsageError("--class-order imagenet: the net has no InnerProduct/Convolution classifier with weights")


def _permute_classes(caffenet: CaffeNet, inverse: bool = False) -> None:
    name = classifier_layer(caffenet)
    layer = next(ly for ly in caffenet.layers() if ly.name == name)
    blobs = caffenet.weights[name]
    perm = label_map()
    transpose = layer.type == "InnerProduct" and layer.inner_product_param.transpose
    n_out = blobs[0].shape[1] if transpose else blobs[0].shape[0]
    if n_out != len(perm):
        raise UsageError(f"--class-order imagenet: classifier '{name}' has {n_out} outputs, "
                         f"the label map has {len(perm)} classes")
    if inverse:  # standard order back to the official one
        perm = np.argsort(perm)
    new = [blobs[0][:, perm] if transpose else blobs[0][perm]]
    if len(blobs) > 1:
        new.append(blobs[1].reshape(-1)[perm].reshape(blobs[1].shape))
    caffenet.weights[name] = [np.ascontiguousarray(b) for b in new]


def _flip_input_channels(caffenet: CaffeNet) -> None:
    layers = caffenet.layers()
    inputs = {top for ly in layers if ly.type == "Input" for top in ly.top}
    readers = [ly for ly in layers if any(b in inputs for b in ly.bottom)]
    if not readers:
        raise UsageError("--input rgb255: no layer reads the net's input")
    for ly in readers:
        blobs = caffenet.weights.get(ly.name)
        if ly.type != "Convolution" or not blobs or len(ly.bottom) != 1:
            raise UsageError(f"--input rgb255: the input feeds '{ly.name}' ({ly.type}); only convolutions "
                             "reading the input can have their channels flipped")
        w = blobs[0]
        if (ly.convolution_param.group or 1) != 1 or w.shape[1] != 3:
            raise UsageError(f"--input rgb255: '{ly.name}' takes {w.shape[1]} channels in "
                             f"{ly.convolution_param.group or 1} group(s), not 3 colour channels")
        caffenet.weights[ly.name] = [np.ascontiguousarray(w[:, ::-1]), *blobs[1:]]


def apply_conventions(caffenet: CaffeNet, options: ConvertOptions) -> CaffeNet:
    """A copy of ``caffenet`` whose weights follow ``options`` (the input net is not changed)."""
    return change_conventions(caffenet, ConvertOptions(), options)


def change_conventions(caffenet: CaffeNet, source: ConvertOptions, target: ConvertOptions) -> CaffeNet:
    """A copy of ``caffenet`` whose weights, which follow ``source``'s conventions, follow ``target``'s."""
    source.validate()
    target.validate()
    out = CaffeNet(net=caffenet.net, weights=dict(caffenet.weights), source=caffenet.source)
    if source.class_order != target.class_order:
        _permute_classes(out, inverse=target.class_order == "official")
    if source.input != target.input:
        _flip_input_channels(out)
    return out


def metadata(options: ConvertOptions, source: str = "") -> dict[str, str]:
    """String metadata describing what the converted weights expect and produce."""
    rgb = options.input == "rgb255"
    mean = BGR_MEAN[::-1] if rgb else BGR_MEAN
    return {
        "senet_proto.version": __version__,
        "input": options.input,
        "input_channel_order": "RGB" if rgb else "BGR",
        "input_range": "0-255",
        "input_mean": ",".join(f"{m:g}" for m in mean),
        "input_std": "1,1,1",
        "class_order": options.class_order,
        "class_order_note": ("standard ImageNet-1k order (sorted synsets)" if options.class_order == "imagenet"
                             else "the official caffemodel's own order (see senet_proto/data/label_map.csv)"),
        "fuse_bn": "true" if options.fuse_bn else "false",
        "source": source,
    }


__all__ = ["BGR_MEAN", "CLASS_ORDERS", "INPUT_FORMATS", "ConvertOptions", "apply_conventions",
           "change_conventions", "classifier_layer", "label_map", "metadata"]

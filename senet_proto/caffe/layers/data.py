"""Training-net layers (data readers, losses, accuracy): shapes for `info` on train_val nets; never converted."""

from __future__ import annotations

from collections.abc import Sequence

from ...errors import PrototxtError
from .base import Layer, LayerSpec, Shape, add, canonical_axis, where

TRAINING_REASON = "a training/data layer: convert a deploy prototxt (Input layer, no loss or accuracy layers)"


def _dummy_data(layer: Layer, b: list[Shape]) -> list[Shape]:
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
            raise PrototxtError(f"{where(layer)}: num, channels, height and width are all needed") from None
    if len(shapes) == 1:
        shapes = shapes * len(layer.top)
    if len(shapes) != len(layer.top):
        raise PrototxtError(f"{where(layer)}: {len(shapes)} shapes for {len(layer.top)} tops")
    return shapes


def _db_data(layer: Layer, b: list[Shape]) -> list[Shape]:
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
        raise PrototxtError(f"{where(layer)}: its image size comes from the database; shape inference needs "
                            f"transform_param.crop_size (or new_height/new_width) and a batch_size")
    tops = [(batch, channels, h, w), (batch,)]
    return tops[: len(layer.top)]


def _from_source(layer: Layer, b: list[Shape]) -> list[Shape]:
    raise PrototxtError(f"{where(layer)}: its blob shapes come from its data source; shape inference cannot "
                        f"know them (use an Input or DummyData layer)")


def _loss(layer: Layer, b: list[Shape]) -> list[Shape]:
    return [()] * len(layer.top)


def _accuracy(layer: Layer, b: list[Shape]) -> list[Shape]:
    axis = canonical_axis(layer.accuracy_param.axis, len(b[0]), layer)
    return [(), (b[0][axis],)][: len(layer.top)]


def _training(type_: str, rule, bottoms: tuple[int, int]) -> LayerSpec:
    return LayerSpec(type_, rule, bottoms, training=True, needs_top=type_ != "HDF5Output",
                     refused={"pytorch": TRAINING_REASON, "onnx": TRAINING_REASON})


add(
    _training("DummyData", _dummy_data, (0, 0)),
    _training("Data", _db_data, (0, 0)),
    _training("ImageData", _db_data, (0, 0)),
    *(_training(t, _from_source, (0, 0)) for t in ("HDF5Data", "MemoryData", "WindowData")),
    _training("HDF5Output", _from_source, (2, 2)),
    _training("SoftmaxWithLoss", _loss, (2, 3)),
    *(_training(t, _loss, (2, 3)) for t in ("EuclideanLoss", "HingeLoss", "InfogainLoss", "MultinomialLogisticLoss",
                                            "SigmoidCrossEntropyLoss", "ContrastiveLoss")),
    _training("Accuracy", _accuracy, (2, 3)),
)

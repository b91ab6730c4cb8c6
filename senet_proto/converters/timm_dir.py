"""``--to timm-dir``: a folder timm loads as a pretrained model (``timm.create_model("local-dir:DIR",
pretrained=True)``).

The folder holds ``model.safetensors`` (the ``--to timm`` state dict) and ``config.json`` in the layout timm
reads (and writes with ``save_for_hf``; the folder can be pushed to the Hugging Face Hub as it is):
``architecture``, ``num_classes``, ``num_features``, ``label_names`` (WordNet ids), ``label_descriptions``
and ``pretrained_cfg``. The weights are made so that timm's own eval transform
(``resolve_data_config`` + ``create_transform``) feeds the net what Caffe's preprocessing would: conv1 takes
RGB (the channel flip folded in), mean = (123, 117, 104) / 255 and std = 1 / 255 turn timm's [0, 1] tensor
into 0-255 minus the mean, ``crop_pct`` 0.875 with bilinear resizing (256 then 224 for a 224 net), and the
classifier rows are in the standard ImageNet order.

``config.json`` also has a ``senet_proto`` block recording the conventions (read by ``predict``/``evaluate``
and by other tools): ``format`` "timm-dir", ``format_version``, ``input`` (rgb255), ``input_channel_order``,
``input_range``, ``input_mean`` (0-255, RGB), ``class_order`` (imagenet, or official for a net whose
class count is not 1000: rows unchanged, no labels), ``input_size`` [H, W], ``resize``, ``crop_pct`` and
``source`` (the caffemodel's file name).
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..fsutil import atomic_dir, atomic_write_text
from ..inference.images import CROP_PCT, default_resize
from ..inference.labels import IMAGENET_CLASSES, imagenet_classes
from ..optional import import_optional
from .conventions import BGR_MEAN, ConvertOptions, classifier_layer, metadata
from .loader import CaffeNet
from .timm import TIMM_MODELS, export_timm, infer_timm_model

FORMAT = "timm-dir"
FORMAT_VERSION = "1"


def folder_options(options: ConvertOptions, caffenet: CaffeNet) -> ConvertOptions:
    """The conventions a timm folder always has: RGB input; standard class order for 1000 classes."""
    name = classifier_layer(caffenet)
    w = caffenet.weights[name][0]
    layer = next(ly for ly in caffenet.layers() if ly.name == name)
    transpose = layer.type == "InnerProduct" and layer.inner_product_param.transpose
    classes = int(w.shape[1] if transpose else w.shape[0])
    return replace(options, input="rgb255", class_order="imagenet" if classes == IMAGENET_CLASSES else "official")


def _input_size(caffenet: CaffeNet) -> int:
    for layer in caffenet.layers():
        if layer.type == "Input" and layer.input_param.shape:
            dims = list(layer.input_param.shape[0].dim)
            if len(dims) == 4 and dims[2] == dims[3]:
                return int(dims[2])
            raise UsageError(f"--to timm-dir: the net's input shape {tuple(dims)} is not square (N, 3, S, S)")
    dims = list(caffenet.net.input_shape[0].dim) if caffenet.net.input_shape else list(caffenet.net.input_dim)
    if len(dims) == 4 and dims[2] == dims[3]:
        return int(dims[2])
    raise UsageError("--to timm-dir: the net declares no square input shape")


def timm_config(caffenet: CaffeNet, options: ConvertOptions, model_name: str, num_classes: int,
                num_features: int) -> dict:
    """config.json: timm's fields, and our conventions in a ``senet_proto`` block."""
    size = _input_size(caffenet)
    rgb_mean = BGR_MEAN[::-1]
    pretrained_cfg = {
        "tag": "senet_proto",
        "input_size": [3, size, size],
        "fixed_input_size": False,
        "interpolation": "bilinear",
        "crop_pct": CROP_PCT,
        "crop_mode": "center",
        "mean": [m / 255.0 for m in rgb_mean],
        "std": [1.0 / 255.0] * 3,
        "num_classes": num_classes,
        "first_conv": "layer0.conv1",
        "classifier": "last_linear",
        "license": "apache-2.0",
    }
    meta = metadata(options, Path(caffenet.source).name if caffenet.source else "")
    ours = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "version": meta["senet_proto.version"],
        **{k: meta[k] for k in ("input", "input_channel_order", "input_range", "input_mean", "class_order",
                                "source")},
        "input_size": [size, size],
        "resize": default_resize(size),
        "crop_pct": CROP_PCT,
    }
    cfg: dict = {"architecture": model_name, "num_classes": num_classes, "num_features": num_features,
                 "global_pool": "avg"}
    if options.class_order == "imagenet":
        classes = imagenet_classes()
        cfg["label_names"] = [w for w, _ in classes]
        cfg["label_descriptions"] = dict(classes)
    cfg["pretrained_cfg"] = pretrained_cfg
    cfg["senet_proto"] = ours
    return cfg


def export_timm_dir(caffenet: CaffeNet, out: str | os.PathLike[str], options: ConvertOptions,
                    force: bool = False) -> Path:
    """Write the folder atomically (a temporary folder beside ``out``, renamed when complete)."""
    if options.input != "rgb255":
        raise UsageError("--to timm-dir: the weights must take RGB (convert applies folder_options first)")
    name = options.timm_model or infer_timm_model(caffenet)
    if name not in TIMM_MODELS:
        raise UsageError(f"--timm-model must be one of {', '.join(TIMM_MODELS)}, got {name!r}")
    cls = classifier_layer(caffenet)
    num_classes = int(caffenet.weights[cls][0].shape[0])
    timm = import_optional("timm", what="--to timm-dir")
    import torch

    with torch.device("meta"):  # the structure only: no weights made, none initialised
        model: Any = timm.create_model(name, pretrained=False, num_classes=num_classes)
    num_features = int(model.num_features)
    cfg = timm_config(caffenet, options, name, num_classes, num_features)
    with atomic_dir(out, force=force) as tmp:
        export_timm(caffenet, tmp / "model.safetensors", options, force=True, model_name=name)
        atomic_write_text(tmp / "config.json", json.dumps(cfg, indent=2) + "\n")
    return Path(out)

"""Export timm / PyTorch SENets to Caffe: the generator's prototxt and a caffemodel written blob by blob.

The prototxt is the generator's (the release's templates and layer names, ``--se-style``/``--squeeze`` as in
``generate``; for timm's non-legacy SE ResNets a template read from the timm model, ``timm_resnet``), with the
classifier sized by the weights; the blobs are the ``--to timm`` mapping read backwards
(``converters.timm.caffe_blobs_from_timm``). Conventions: the weights' recorded ones (``input``, ``class_order``)
are changed into the requested ones (default: the release's, bgr255 and official); weights that record none
are exported as they are, so that the Caffe net computes what the PyTorch model computes on the same tensor.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..caffe import caffe_pb2, format_prototxt
from ..converters.conventions import ConvertOptions, change_conventions, metadata
from ..converters.loader import CaffeNet
from ..converters.timm import TIMM_ARCHS, TimmSlot, caffe_blobs_from_timm, check_against_timm, timm_slot
from ..fsutil import atomic_open_many, check_output_path
from ..generator import GenerateOptions, Template, generate
from .caffemodel import write_caffemodel
from .sources import WeightSource, open_source
from .timm_resnet import resnet_arch

__all__ = ["ExportOptions", "WeightSource", "export_caffe", "open_source"]


@dataclass(frozen=True)
class ExportOptions:
    se_style: str = "axpy"
    squeeze: str = "conv"
    input_shape: tuple[int, int, int, int] = (1, 3, 224, 224)
    input: str | None = None  # None: the release's (bgr255) for weights that record conventions, else as they are
    class_order: str | None = None  # None: likewise (official)


def _conventions(source: WeightSource, options: ExportOptions) -> tuple[ConvertOptions, ConvertOptions, bool]:
    """(the weights' conventions, the export's, whether either is known). Weights that record none are taken to
    follow the release's (as ``convert`` takes a caffemodel), so the defaults change nothing."""
    src = source.conventions or ConvertOptions()
    dst = ConvertOptions(input=options.input or ("bgr255" if source.conventions else src.input),
                         class_order=options.class_order or ("official" if source.conventions else src.class_order))
    dst.validate()
    known = source.conventions is not None or options.input is not None or options.class_order is not None
    return src, dst, known


def _header(source: WeightSource, dst: ConvertOptions, known: bool) -> str:
    lines = [f"# exported by senet-proto from {source.model} ({source.description})"]
    if known:
        meta = metadata(dst)
        lines.append(f"# input: {meta['input']} ({meta['input_channel_order']}, {meta['input_range']}, "
                     f"minus mean_value {meta['input_mean'].replace(',', ', ')}); class order: {meta['class_order']}")
        lines.append(f"# mean_value: {meta['input_mean'].replace(',', ', ')}")
    else:
        lines.append("# input and class order: those of the PyTorch model (its weights record no convention)")
    return "\n".join(lines)


SlotOf = Callable[[str], TimmSlot | None]


def _arch(model: str) -> tuple[str | Template, str, SlotOf]:
    """(the architecture id or template, the classifier's timm module, where each layer's weights live)."""
    if model in TIMM_ARCHS:
        return TIMM_ARCHS[model], "last_linear", timm_slot
    arch = resnet_arch(model)
    return arch.template, "fc", arch.slot


def _blob_stream(net: caffe_pb2.NetParameter, source: WeightSource, src: ConvertOptions,
                 dst: ConvertOptions, slot_of: SlotOf) -> Iterator[tuple[str, str, Sequence[np.ndarray]]]:
    """Each layer's blobs, the input convolutions' and the classifier's changed to ``dst``'s conventions."""
    changed: dict[str, list[np.ndarray]] = {}
    if src != dst:
        inputs = {top for ly in net.layer if ly.type == "Input" for top in ly.top}
        wanted = {ly.name for ly in net.layer if set(ly.bottom) & inputs} | {"classifier"}
        part = caffe_pb2.NetParameter()  # only the layers whose weights conventions change (and their BatchNorm)
        part.layer.extend(ly for ly in net.layer if ly.name in wanted or ly.name.split("/bn")[0] in wanted)
        stem = CaffeNet(net=net, weights={name: list(blobs) for name, _, blobs in
                                          caffe_blobs_from_timm(part, source.read, slot_of)}, source=source.description)
        changed = change_conventions(stem, src, dst).weights
    for name, type_, blobs in caffe_blobs_from_timm(net, source.read, slot_of):
        yield name, type_, changed.get(name, blobs)


def export_caffe(source: WeightSource, prototxt: str | os.PathLike[str], caffemodel: str | os.PathLike[str],
                 options: ExportOptions, force: bool = False) -> tuple[Path, Path]:
    """Write the net's prototxt and caffemodel (both or neither)."""
    for out in (prototxt, caffemodel):
        check_output_path(out, force=force)
    src, dst, known = _conventions(source, options)
    arch, classifier, slot_of = _arch(source.model)
    # the class count follows the weights; without a classifier, the check names what is missing
    num_classes = int(source.shapes.get(f"{classifier}.weight", (1000,))[0])
    check_against_timm(source.shapes, source.model, num_classes, what="export")
    gen = GenerateOptions(se_style=options.se_style, squeeze=options.squeeze, input_shape=options.input_shape,
                          num_classes=num_classes)
    net = generate(arch, gen)  # checks the options first
    text = format_prototxt(net, header=_header(source, dst, known))
    with atomic_open_many([caffemodel, prototxt], "wb", force=force) as (model_file, text_file):
        write_caffemodel(model_file, net.name, _blob_stream(net, source, src, dst, slot_of))
        text_file.write(text.encode("utf-8"))
    return Path(prototxt), Path(caffemodel)

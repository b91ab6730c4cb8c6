"""``senet-proto predict MODEL [CAFFEMODEL] IMAGE|DIR... [--top K] [--json]``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import click

from ..errors import DataError, UsageError
from .common import guarded, verbosity_options

HELP = """Classify images with a converted (or Caffe) SENet.

\b
MODEL is one of
  NET.prototxt NET.caffemodel   a Caffe pair (or an architecture id and a caffemodel)
  MODEL.safetensors             from convert --to pytorch
  MODEL.onnx                    from convert --to onnx
  DIR                           a timm folder from convert --to timm-dir
followed by image files and/or folders (searched recursively).

Images are read with Pillow (JPEG, PNG, ...; grayscale and RGBA become RGB),
resized (short side 256) and center-cropped (224) - the sizes follow the net's
input size at crop_pct 0.875 - and fed as the model's recorded conventions say
(channel order, mean, class order). Classes are reported in the standard
ImageNet order with WordNet ids and names; nets without 1000 classes print
class indices.

\b
Examples:
  senet-proto predict se_resnet50/ cat.jpg photos/ --top 3
  senet-proto predict SE-ResNet-50.prototxt SE-ResNet-50.caffemodel cat.jpg --json
"""


def split_model_args(args: Sequence[str]) -> tuple[str, str | None, list[str]]:
    """MODEL [CAFFEMODEL] REST...: a prototxt (or an architecture id) takes the next argument as its weights."""
    from ..generator import ARCHITECTURES

    if not args:
        raise UsageError("missing MODEL")
    model = args[0]
    if model in ARCHITECTURES or model.lower().endswith(".prototxt"):
        if len(args) < 2 or not args[1].lower().endswith(".caffemodel"):
            raise UsageError(f"{model}: a prototxt or architecture id needs its .caffemodel next")
        return model, args[1], list(args[2:])
    return model, None, list(args[1:])


def model_options(fn):  # the options predict and evaluate share
    fn = click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N.")(fn)
    fn = click.option("--size", type=click.IntRange(min=1), help="Crop size (default: the net's input size).")(fn)
    fn = click.option("--resize", type=click.IntRange(min=1),
                      help="Short side before the crop (default: size / 0.875, 256 for 224).")(fn)
    return fn


def _top(probs, k: int, imagenet: bool) -> list[dict]:
    from ..inference.labels import imagenet_classes, short_label

    classes = imagenet_classes()
    values, indices = probs.topk(min(k, probs.shape[0]))
    out = []
    for p, i in zip(values.tolist(), indices.tolist(), strict=True):
        wnid, desc = classes[i] if imagenet else (None, None)
        out.append({"synset": wnid, "label": short_label(desc) if desc else None, "prob": p, "index": i})
    return out


@click.command("predict", help=HELP)
@click.argument("args", nargs=-1, required=True, metavar="MODEL [CAFFEMODEL] IMAGE|DIR...")
@click.option("--top", "top_k", type=click.IntRange(min=1), default=5, show_default=True, help="Classes per image.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per image and line.")
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--skip-bad", is_flag=True, help="Go on past unreadable images (reported on stderr, counted apart).")
@model_options
@verbosity_options
@guarded
def predict_cmd(args: tuple[str, ...], top_k: int, as_json: bool, batch_size: int, skip_bad: bool, device: str,
                size: int | None, resize: int | None) -> None:
    import numpy as np
    import torch

    from ..inference.images import center_crop, find_images, load_rgb
    from ..inference.models import load_classifier, with_sizes

    model, caffemodel, inputs = split_model_args(args)
    if not inputs:
        raise UsageError("no IMAGE or DIR given")
    files = find_images(inputs)
    clf = with_sizes(load_classifier(model, caffemodel, device=device), size, resize)
    p = clf.prep
    bad: list[Path] = []
    for start in range(0, len(files), batch_size):
        batch, names = [], []
        for f in files[start:start + batch_size]:
            try:
                batch.append(center_crop(load_rgb(f), p.size, p.resize, p.interpolation))
                names.append(f)
            except DataError as e:
                if not skip_bad:
                    raise
                click.echo(f"senet-proto: skipped: {e}", err=True)
                bad.append(f)
        if not batch:
            continue
        x = torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2).contiguous()
        probs = clf.probabilities(x).cpu()
        for f, row in zip(names, probs, strict=True):
            top = _top(row, top_k, clf.imagenet)
            if as_json:
                click.echo(json.dumps({"file": str(f), "top": top}))
                continue
            click.echo(str(f))
            for t in top:
                name = f"{t['synset']}  {t['label']}" if t["synset"] else f"class {t['index']}"
                click.echo(f"  {100 * t['prob']:7.3f}%  {name}")
    if bad:
        click.echo(f"senet-proto: {len(bad)} unreadable image(s) skipped", err=True)

"""``senet-proto evaluate MODEL [CAFFEMODEL] --data DIR``: top-1/top-5 error, also under torchrun."""

from __future__ import annotations

import json

import click

from ..errors import UsageError
from .common import guarded, verbosity_options
from .predict import model_options, split_model_args

HELP = """Top-1 and top-5 error (percent, single center crop) on an ImageNet validation set.

\b
MODEL is as for predict (a Caffe pair, .safetensors, .onnx or a timm folder).
DIR holds one sub-folder per WordNet id (n01440764/...), or the images flat
with a ground-truth file ('FILE LABEL' per line, LABEL a WordNet id or a
standard 0-999 index; val.txt in DIR or --ground-truth).

For the seven official nets the release's numbers are printed beside ours.
Started by torchrun, the images are shared out over the processes
(NCCL on GPUs, gloo on CPUs); rank 0 prints the totals.

\b
Examples:
  senet-proto evaluate se_resnet50/ --data ~/imagenet/val --device cuda
  torchrun --nproc_per_node=4 "$(which senet-proto)" evaluate se_resnet50/ \\
      --data ~/imagenet/val --device cuda --json
"""


@click.command("evaluate", help=HELP)
@click.argument("args", nargs=-1, required=True, metavar="MODEL [CAFFEMODEL]")
@click.option("--data", "data", required=True, type=click.Path(), help="The validation folder.")
@click.option("--ground-truth", type=click.Path(dir_okay=False), help="'FILE LABEL' lines for flat folders.")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--workers", type=click.IntRange(min=0), default=2, show_default=True,
              help="Processes decoding images (per evaluating process).")
@click.option("--limit", type=click.IntRange(min=1), help="Only the first N images (sorted).")
@click.option("--json", "as_json", is_flag=True, help='Print {"images": N, "top1_err": ..., "top5_err": ...}.')
@click.option("--skip-bad", is_flag=True, help="Go on past unreadable images (counted apart, not in the errors).")
@model_options
@verbosity_options
@guarded
def evaluate_cmd(args: tuple[str, ...], data: str, ground_truth: str | None, batch_size: int, workers: int,
                 limit: int | None, as_json: bool, skip_bad: bool, device: str, size: int | None,
                 resize: int | None) -> None:
    from ..inference.evaluate import RELEASE_ERRORS, evaluate, finish_distributed, init_distributed, release_arch
    from ..inference.images import labelled_images
    from ..inference.models import load_classifier, with_sizes

    model, caffemodel, rest = split_model_args(args)
    if rest:
        raise UsageError(f"unexpected argument(s): {' '.join(rest)} (the images come with --data)")
    files, labels = labelled_images(data, ground_truth)
    rank, world, device = init_distributed(device)
    try:
        clf = with_sizes(load_classifier(model, caffemodel, device=device), size, resize)
        result = evaluate(clf, files, labels, batch_size=batch_size, workers=workers, skip_bad=skip_bad,
                          limit=limit, progress=True)
    finally:
        finish_distributed()
    if rank != 0:
        return
    arch = release_arch(clf)
    release = RELEASE_ERRORS.get(arch) if arch else None
    if as_json:
        out = {k: result[k] for k in ("images", "top1_err", "top5_err", "bad_images")}
        if release:
            out["release"] = {"net": arch, "top1_err": release[0], "top5_err": release[1]}
        click.echo(json.dumps(out))
        return
    click.echo(f"images      {result['images']}" + (f" ({result['bad_images']} unreadable, not counted)"
                                                   if result["bad_images"] else ""))
    click.echo(f"top-1 error {result['top1_err']:6.2f} %" + (f"   (release, {arch}: {release[0]:.2f} %)"
                                                           if release else ""))
    click.echo(f"top-5 error {result['top5_err']:6.2f} %" + (f"   (release, {arch}: {release[1]:.2f} %)"
                                                           if release else ""))
    rate = result["images"] / result["seconds"] if result["seconds"] else 0.0  # all processes' images, rank 0's time
    click.echo(f"speed       {rate:.1f} images/s" + (f" ({world} processes)" if world > 1 else ""), err=True)

"""Top-1/top-5 error on an ImageNet validation folder, in one process or sharded under torchrun.

Images are decoded and cropped by a torch ``DataLoader`` (``workers`` processes) while the net runs on the
previous batch. Under ``torchrun`` (``WORLD_SIZE`` > 1) each process takes every WORLD_SIZE-th image of the
sorted list (each image counted once), the counts are summed with ``torch.distributed`` (NCCL on GPUs, gloo
on CPUs) and every rank returns the totals; the CLI prints them on rank 0 only.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError, UsageError
from .images import Preprocess, center_crop, load_rgb
from .models import Classifier

log = logging.getLogger("senet_proto.evaluate")


class CropDataset:
    """(uint8 RGB crop as a (3, S, S) tensor, label, index, ok) per file; a bad file gives ok=False."""

    def __init__(self, files: Sequence[Path], labels: Sequence[int], prep: Preprocess) -> None:
        self.files, self.labels, self.prep = list(files), list(labels), prep

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[Any, int, int, bool]:
        import torch

        p = self.prep
        try:
            arr = center_crop(load_rgb(self.files[i]), p.size, p.resize, p.interpolation)
            ok = True
        except DataError:
            arr, ok = np.zeros((p.size, p.size, 3), dtype=np.uint8), False
        return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1))), self.labels[i], i, ok


@dataclass
class Counts:
    images: int = 0
    top1: int = 0
    top5: int = 0
    bad: int = 0
    bad_files: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def result(self) -> dict[str, Any]:
        n = self.images
        return {"images": n, "top1_err": 100.0 * (n - self.top1) / n if n else float("nan"),
                "top5_err": 100.0 * (n - self.top5) / n if n else float("nan"), "bad_images": self.bad}


def distributed_env() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; (0, 1, 0) otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0"))


def loader(files: Sequence[Path], labels: Sequence[int], prep: Preprocess, batch_size: int, workers: int,
           pin: bool) -> Any:
    import torch

    dataset: Any = CropDataset(files, labels, prep)  # a map-style dataset (__getitem__, __len__)
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False,
                                       num_workers=workers, pin_memory=pin, persistent_workers=False,
                                       prefetch_factor=4 if workers else None)


def count(clf: Classifier, files: Sequence[Path], labels: Sequence[int], *, batch_size: int = 32, workers: int = 2,
          skip_bad: bool = False, bar: Any = None) -> Counts:
    """Top-1/top-5 hits of ``clf`` over these files (this process's share)."""
    counts = Counts()
    t0 = time.monotonic()
    for crops, target, index, ok in loader(files, labels, clf.prep, batch_size, workers,
                                           clf.device.startswith("cuda")):
        if not bool(ok.all()):
            bad = [str(files[int(i)]) for i in index[~ok]]
            if not skip_bad:
                raise DataError(f"{bad[0]}: not a readable image (--skip-bad goes on and counts such files apart)")
            counts.bad += len(bad)
            counts.bad_files.extend(bad)
            crops, target = crops[ok], target[ok]
        if len(crops):
            top5 = clf.probabilities(crops).topk(5, dim=1).indices.cpu()
            hit = top5 == target.view(-1, 1)
            counts.top1 += int(hit[:, 0].sum())
            counts.top5 += int(hit.any(dim=1).sum())
            counts.images += len(crops)
        if bar is not None:
            bar.update(len(index))
    counts.seconds = time.monotonic() - t0
    return counts


def evaluate(clf: Classifier, files: Sequence[Path], labels: Sequence[int], *, batch_size: int = 32,
             workers: int = 2, skip_bad: bool = False, limit: int | None = None, progress: bool = False,
             ) -> dict[str, Any]:
    """Top-1/top-5 error (percent) over the images; sharded over torchrun's processes when started by it."""
    if not clf.imagenet:
        raise UsageError(f"evaluate needs an ImageNet-1k classifier; this net has {clf.num_classes} classes")
    if batch_size < 1 or workers < 0:
        raise UsageError("--batch-size must be >= 1 and --workers >= 0")
    if limit is not None:
        files, labels = files[:limit], labels[:limit]
    rank, world, _ = distributed_env()
    mine = list(range(rank, len(files), world))
    bar = None
    if progress and rank == 0:
        from ..progress import progress_bar

        bar = progress_bar(total=len(mine), desc="evaluating" + (f" (rank 0 of {world})" if world > 1 else ""),
                           unit="img")
    error: DataError | None = None
    try:
        counts = count(clf, [files[i] for i in mine], [labels[i] for i in mine], batch_size=batch_size,
                       workers=workers, skip_bad=skip_bad, bar=bar)
    except DataError as e:  # under torchrun the other processes must still get this one's counts
        error, counts = e, Counts()
    finally:
        if bar is not None:
            bar.close()
    if world > 1:
        import torch
        import torch.distributed as dist

        totals = torch.tensor([counts.images, counts.top1, counts.top5, counts.bad, int(error is not None)],
                              dtype=torch.int64, device=clf.device if dist.get_backend() == "nccl" else "cpu")
        dist.all_reduce(totals)
        counts.images, counts.top1, counts.top5, counts.bad, failed = (int(v) for v in totals.cpu())
        if failed and error is None:
            raise DataError(f"{failed} other process(es) stopped on bad input (their messages say why)")
    if error is not None:
        raise error
    for f in counts.bad_files:
        log.warning("unreadable image skipped: %s", f)
    result = counts.result()
    result["seconds"] = counts.seconds
    result["processes"] = world
    log.info("%d images in %.1f s (%.1f images/s per process)", len(mine), counts.seconds,
             len(mine) / counts.seconds if counts.seconds else float("nan"))
    return result


def init_distributed(device: str) -> tuple[int, int, str]:
    """Join torchrun's process group (NCCL for CUDA, gloo for CPU); (rank, world, this process's device)."""
    rank, world, local = distributed_env()
    if world <= 1:
        return rank, world, device
    import torch
    import torch.distributed as dist

    if device.startswith("cuda"):
        device = f"cuda:{local}"
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return rank, world, device


def finish_distributed() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


# The release's single-crop errors (top-1, top-5, percent) of the official weights (REFERENCE.md).
RELEASE_ERRORS: dict[str, tuple[float, float]] = {
    "se-bn-inception": (23.62, 7.04),
    "se-resnet-50": (22.37, 6.36),
    "se-resnet-101": (21.75, 5.72),
    "se-resnet-152": (21.34, 5.54),
    "se-resnext-50": (20.97, 5.54),
    "se-resnext-101": (19.81, 4.96),
    "senet-154": (18.68, 4.47),
}

TIMM_ARCHS = {"legacy_seresnet50": "se-resnet-50", "legacy_seresnet101": "se-resnet-101",
              "legacy_seresnet152": "se-resnet-152", "legacy_seresnext50_32x4d": "se-resnext-50",
              "legacy_seresnext101_32x4d": "se-resnext-101", "legacy_senet154": "senet-154"}


def release_arch(clf: Classifier) -> str | None:
    """Which of the seven official nets ``clf`` is (by its net name or timm architecture), if any."""
    if not clf.imagenet:
        return None
    if "architecture" in clf.info:
        return TIMM_ARCHS.get(clf.info["architecture"])
    from ..generator import ARCHITECTURES
    from ..generator.template import load_template

    names = {load_template(ARCHITECTURES[a].template).name: a for a in RELEASE_ERRORS}
    return names.get(clf.info.get("net", ""))

"""Images as the converted nets see them: Pillow decoding, short-side resize, center crop; image folders.

The crop follows timm's (and torchvision's) evaluation transform exactly: the short side resized to
``floor(size / crop_pct)`` with Pillow's bilinear filter, the long side to ``int(resize * long / short)``,
then a ``size`` x ``size`` center crop whose corner is ``round((side - size) / 2)``. The result stays uint8
RGB (H, W, 3); ``Preprocess.normalize`` turns a batch into what the net expects on its device.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError, UsageError
from ..optional import import_optional
from .labels import WNID, wnid_index

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"})
CROP_PCT = 0.875  # the release's single crop: resize 256, center crop 224
INTERPOLATIONS = ("bilinear", "bicubic", "nearest")


@dataclass(frozen=True)
class Preprocess:
    """What a net expects: crop size, resize, and how uint8 RGB becomes its input.

    ``input = (rgb - mean255) * scale`` per channel (RGB order), then reordered to ``channel_order``.
    """

    size: int = 224
    resize: int = 256
    interpolation: str = "bilinear"
    channel_order: str = "BGR"
    mean255: tuple[float, float, float] = (123.0, 117.0, 104.0)  # RGB order
    scale: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def with_sizes(self, size: int | None = None, resize: int | None = None) -> Preprocess:
        """Another crop size (the resize follows it at crop_pct 0.875 unless given) or resize."""
        new_size = size or self.size
        new_resize = resize or (default_resize(new_size) if size else self.resize)
        if new_size < 1 or new_resize < new_size:
            raise UsageError(f"the resize ({new_resize}) must be at least the crop size ({new_size}) and both >= 1")
        return Preprocess(new_size, new_resize, self.interpolation, self.channel_order, self.mean255, self.scale)

    def normalize(self, batch):  # torch.Tensor uint8 (N, 3, H, W) RGB -> float32 input of the net
        import torch

        x = batch.to(torch.float32)
        mean = torch.tensor(self.mean255, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
        x = x - mean
        if self.scale != (1.0, 1.0, 1.0):
            x = x * torch.tensor(self.scale, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
        if self.channel_order == "BGR":
            x = x.flip(1)
        return x.contiguous()


def pillow():
    """The Pillow module (``Image``), or a MissingDependencyError naming it and its extra."""
    return import_optional("PIL.Image", what="reading images")


def default_resize(size: int, crop_pct: float = CROP_PCT) -> int:
    return math.floor(size / crop_pct)


def load_rgb(path: str | os.PathLike[str]):
    """The image as a Pillow RGB image (grayscale replicated, alpha dropped); DataError naming a bad file."""
    Image = pillow()
    try:
        with Image.open(path) as img:
            img.load()
            return img.convert("RGB")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:  # UnidentifiedImageError: OSError
        raise DataError(f"{path}: not a readable image ({str(e).splitlines()[0] if str(e) else type(e).__name__})") \
            from None


def center_crop(img, size: int, resize: int, interpolation: str = "bilinear") -> np.ndarray:
    """Short side to ``resize``, then the central ``size`` x ``size``: uint8 (size, size, 3)."""
    Image = pillow()
    w, h = img.size
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = resize, int(resize * long / short)
    new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    if (new_w, new_h) != (w, h):
        img = img.resize((new_w, new_h), getattr(Image.Resampling, interpolation.upper()))
    top = round((new_h - size) / 2.0)
    left = round((new_w - size) / 2.0)
    return np.asarray(img.crop((left, top, left + size, top + size)), dtype=np.uint8)


def find_images(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The files named, and the image files (by suffix) under each folder named, sorted per folder."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise DataError(f"{p}: no image files in this folder ({', '.join(sorted(IMAGE_SUFFIXES))})")
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            raise DataError(f"{p}: no such file or folder")
    return out


def read_ground_truth(path: Path) -> dict[str, int]:
    """``FILE LABEL`` per line (Caffe's val.txt): LABEL a WordNet id or a 0-based standard class index."""
    index = wnid_index()
    out: dict[str, int] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        if len(parts) != 2:
            raise DataError(f"{path}:{n}: expected 'FILE LABEL', got {line.strip()!r}")
        name, label = parts
        if label in index:
            out[name] = index[label]
        elif label.isdigit() and int(label) < len(index):
            out[name] = int(label)
        else:
            raise DataError(f"{path}:{n}: label {label!r} is neither an ImageNet-1k WordNet id nor an index 0-999")
    return out


def labelled_images(root: str | os.PathLike[str], ground_truth: str | os.PathLike[str] | None = None,
                    ) -> tuple[list[Path], list[int]]:
    """An ImageNet validation set: one sub-folder per WordNet id, or flat files plus a ground-truth file
    (``ground_truth``, else ``val.txt`` or ``ground_truth.txt`` in the folder)."""
    d = Path(root)
    if not d.is_dir():
        raise DataError(f"{d}: no such folder")
    gt = Path(ground_truth) if ground_truth else next(
        (d / n for n in ("val.txt", "ground_truth.txt") if (d / n).is_file()), None)
    if gt is not None:
        labels = read_ground_truth(gt)
        names = sorted(labels)
        files = [d / name for name in names]
        missing = [f for f in files if not f.is_file()]
        if missing:
            raise DataError(f"{missing[0]}: listed in {gt} but missing ({len(missing)} missing)")
        if not files:
            raise DataError(f"{gt}: lists no images")
        return files, [labels[name] for name in names]
    subdirs = sorted(p for p in d.iterdir() if p.is_dir())
    if not subdirs:
        raise DataError(f"{d}: no class sub-folders (one per WordNet id) and no ground-truth file (val.txt)")
    index = wnid_index()
    files, targets = [], []
    for sub in subdirs:
        if not WNID.match(sub.name) or sub.name not in index:
            raise DataError(f"{sub}: sub-folder name is not an ImageNet-1k WordNet id (like n01440764)")
        found = sorted(f for f in sub.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
        files.extend(found)
        targets.extend([index[sub.name]] * len(found))
    if not files:
        raise DataError(f"{d}: no image files in its class sub-folders")
    return files, targets


def crops(files: Sequence[Path], prep: Preprocess) -> np.ndarray:
    """The crops of several files, (N, size, size, 3) uint8 (for tests and small jobs)."""
    return np.stack([center_crop(load_rgb(f), prep.size, prep.resize, prep.interpolation) for f in files])

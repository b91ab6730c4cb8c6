"""Test inputs of a few distributions, for checking conversions against Caffe beyond one kind of input."""

from __future__ import annotations

import numpy as np

from ..converters.conventions import BGR_MEAN
from .jobs import INPUT_STD

INPUT_KINDS = ("normal", "uniform", "image")


def sample_input(kind: str, shape: tuple[int, int, int, int], seed: int = 0) -> np.ndarray:
    """A float32 N×3×H×W batch: ``normal`` (std ``INPUT_STD``, like the weights' calibration input), ``uniform``
    in [-120, 140] (the range of a mean-subtracted 0-255 image, flat), or ``image`` (a smooth 0-255 picture:
    bicubic upsampling of an 8×8 grid plus a little grain, minus the BGR means)."""
    rng = np.random.default_rng(seed)
    if kind == "normal":
        return rng.normal(0.0, INPUT_STD, shape).astype(np.float32)
    if kind == "uniform":
        return rng.uniform(-120.0, 140.0, shape).astype(np.float32)
    if kind == "image":
        import torch

        low = torch.from_numpy(rng.uniform(0.0, 255.0, (shape[0], shape[1], 8, 8)))
        img = torch.nn.functional.interpolate(low, size=shape[2:], mode="bicubic", align_corners=False).numpy()
        img = np.clip(img + rng.normal(0.0, 8.0, shape), 0.0, 255.0)
        return (img - np.array(BGR_MEAN).reshape(1, 3, 1, 1)).astype(np.float32)
    raise ValueError(f"unknown input kind {kind!r} (kinds: {', '.join(INPUT_KINDS)})")

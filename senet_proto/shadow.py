"""The float64 shadow: the converted module run again in float64, to tell a wrong conversion from rounding.

Caffe and our converted model both compute in float32, each at its own rounding distance from the exact
function; a deep net amplifies that distance, so no fixed bound separates rounding from a mistake on every
net. The same module in float64 (CPU) is the exact function to ~1e-16. Per blob, relative to max|caffe|:
``caffe_err = max|caffe - ours64|`` (Caffe's own rounding, if the conversion is right) and
``ours_err = max|ours32 - ours64|`` (the target's rounding). A correct conversion leaves both float32
implementations within rounding of the exact function, so neither error is far larger than the other's, nor
than the largest distance either side had at the blobs before it in Caffe's order (``before``: a layer passes
on, and may amplify, its inputs' rounding; where a net amplifies rounding to the order of the values
themselves, two float32 runs part at random): Caffe's at most ``CAFFE_RATIO`` times that (its pooling sums
run in sequence, PyTorch's pairwise), ours at most ``OURS_RATIO`` times, or either under ``FLOOR``. A wrong
conversion moves Caffe away from our float64 run (or a float32-only path of ours, e.g. prepacked convolutions
or ONNX Runtime, away from the float64 run) far past that at its first wrong blob. The constants
come from measurements (bench/README.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

CAFFE_RATIO = 32.0
"""Caffe's distance from the float64 run may be up to this many times ours (measured: up to 15, at the SE
squeeze's global average pooling of 56x56 maps, which Caffe sums in sequence)."""

OURS_RATIO = 8.0
"""Ours may be up to this many times Caffe's (measured: up to 3 where the net is well-conditioned)."""

FLOOR = 1e-6
"""Relative errors below this (8 float32 ulps of the blob's largest value) always pass: a few roundings."""


@dataclass(frozen=True)
class Rounding:
    """One blob's three distances, each relative to max|caffe|."""

    ours_vs_caffe: float  # max|ours32 - caffe|
    caffe_err: float  # max|ours64 - caffe|: Caffe's own rounding when the conversion is right
    ours_err: float  # max|ours32 - ours64|: our own rounding
    before: float = 0.0  # the largest of either side's distance at the passing blobs before this one (Caffe's order)

    @property
    def drift(self) -> float:
        """The largest distance of either side at this blob or before it: the next blob's ``before``."""
        return max(self.before, self.caffe_err, self.ours_err)

    @property
    def caffe_limit(self) -> float:
        return max(FLOOR, CAFFE_RATIO * max(self.ours_err, self.before))

    @property
    def ours_limit(self) -> float:
        return max(FLOOR, OURS_RATIO * max(self.caffe_err, self.before))

    @property
    def ok(self) -> bool:
        """Both float32 results within rounding of the float64 run (NaN fails)."""
        return bool(self.caffe_err <= self.caffe_limit and self.ours_err <= self.ours_limit)

    def why(self) -> str:
        """What parted ways, in words (for a blob that is not ``ok``)."""
        if not np.isfinite(self.ours_vs_caffe):
            return "not finite"
        if not self.caffe_err <= self.caffe_limit:
            return (f"Caffe is {self.caffe_err:.2e} from our float64 run, past float32 rounding "
                    f"(ours {self.ours_err:.2e}, limit {self.caffe_limit:.2e})")
        return (f"our float32 result is {self.ours_err:.2e} from our own float64 run, past float32 rounding "
                f"(Caffe's {self.caffe_err:.2e}, limit {self.ours_limit:.2e})")


def _rel(a: np.ndarray, b: np.ndarray, scale: float) -> float:
    if a.size == 0:
        return 0.0
    d = float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))
    if scale > 0:
        return d / scale
    return 0.0 if d == 0 else float("inf")


def rounding(caffe: np.ndarray, ours32: np.ndarray, ours64: np.ndarray, before: float = 0.0) -> Rounding:
    """The three relative distances of one blob (shapes must already agree); ``before``: the previous blob's
    ``drift`` (Caffe's order), 0 for the first."""
    scale = float(np.max(np.abs(caffe))) if caffe.size else 0.0
    return Rounding(_rel(ours32, caffe, scale), _rel(ours64, caffe, scale), _rel(ours32, ours64, scale), before)


def float64_blobs(caffenet, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every blob of the net (a loaded ``CaffeNet``) run by the converted PyTorch module in float64 on the CPU.

    The exact function every float32 conversion of ``caffenet`` approximates: a BatchNorm-folded or prepacked
    (``optimize_for_inference``) module computes the same function, so its shadow is this unfolded, unpacked
    module too (folding in float64 is exact algebra; the folded float32 weights' rounding is then counted as the
    folded module's own rounding, as it should be)."""
    import torch

    from .converters.pytorch import build_module

    shadow = build_module(caffenet, check=False).to(dtype=torch.float64)
    with torch.no_grad():
        blobs = shadow.forward_blobs(**{k: torch.from_numpy(np.asarray(v, dtype=np.float64))
                                        for k, v in inputs.items()})
    return {k: v.numpy() for k, v in blobs.items()}

"""The float32-rounding judgement (``senet_proto.shadow``) on constructed distances."""

from __future__ import annotations

import numpy as np
import pytest

from senet_proto.shadow import CAFFE_RATIO, FLOOR, OURS_RATIO, rounding

EXACT = np.linspace(-2.0, 4.0, 50)  # max |.| = 4


def _at(rel: float) -> np.ndarray:
    """EXACT moved by ``rel`` of its largest value at one element."""
    out = EXACT.copy()
    out[7] += rel * 4.0
    return out


@pytest.mark.parametrize(("caffe_rel", "ours_rel", "ok", "why"), [
    (0.0, 0.0, True, ""),
    (FLOOR / 2, 0.0, True, ""),  # under the floor whatever the other side
    (1e-4, 1e-4 / (CAFFE_RATIO / 2), True, ""),  # Caffe rounds more than ours, within the ratio
    (1e-4, 1e-4 / (CAFFE_RATIO * 2), False, "Caffe is 1.00e-04 from our float64 run"),
    (1e-4 / (OURS_RATIO / 2), 1e-4, True, ""),
    (1e-4 / (OURS_RATIO * 2), 1e-4, False, "our float32 result is 1.00e-04 from our own float64 run"),
])
def test_each_side_within_a_ratio_of_the_other(caffe_rel, ours_rel, ok, why) -> None:
    r = rounding(_at(caffe_rel), _at(ours_rel) if ours_rel else EXACT, EXACT)
    assert r.caffe_err == pytest.approx(caffe_rel) and r.ours_err == pytest.approx(ours_rel)
    assert r.ok is ok
    assert why in (r.why() if not ok else "")


def test_the_largest_rounding_so_far_carries_over() -> None:
    """A blob after one where our float32 run drifted 1e-3 may have Caffe 1e-2 from the float64 run; without
    that history it may not, and a mistake still stands out of that noise."""
    noisy = rounding(_at(1e-3), _at(1e-3), EXACT)
    assert noisy.ok and noisy.drift == pytest.approx(1e-3)
    late = _at(1e-2)
    assert not rounding(late, EXACT, EXACT).ok
    judged = rounding(late, EXACT, EXACT, noisy.drift)
    assert judged.ok and judged.drift == pytest.approx(1e-2)
    assert not rounding(_at(1.0), EXACT, EXACT, judged.drift).ok


def test_nan_fails() -> None:
    caffe = EXACT.copy()
    caffe[3] = np.nan
    assert not rounding(caffe, EXACT, EXACT).ok

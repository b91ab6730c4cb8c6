"""The Axpy layer (inroot/senet_axpy.py) inside real Caffe: forward numerics and Caffe's backward."""

from __future__ import annotations

import numpy as np
import pytest
from caffe_nets import axpy_net

from senet_proto.reference import forward, gradients

SHAPES = [
    # (a shape, X shape)
    ((2, 3), (2, 3, 4, 5)),
    ((2, 3, 1, 1), (2, 3, 4, 5)),
    ((1, 16), (1, 16, 7, 7)),
    ((3, 4, 1, 1), (3, 4, 1, 1)),
]


def _arrays(a_shape, x_shape, seed):
    rng = np.random.default_rng(seed)
    a = rng.uniform(0, 1, a_shape).astype(np.float32)  # a sigmoid's output in SENet
    x = rng.normal(0, 3, x_shape).astype(np.float32)
    y = rng.normal(0, 3, x_shape).astype(np.float32)
    return a, x, y


@pytest.mark.parametrize(("a_shape", "x_shape"), SHAPES)
def test_axpy_forward_is_a_times_x_plus_y(caffe_root, a_shape, x_shape):
    a, x, y = _arrays(a_shape, x_shape, seed=1)
    out = forward(axpy_net(a_shape, x_shape), inputs={"a": a, "x": x, "y": y})["out"]
    n, c = x_shape[:2]
    expected = a.reshape(n, c, 1, 1) * x + y  # float32 arithmetic, computed here independently
    assert out.dtype == np.float32
    assert out.shape == tuple(x_shape)
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(("a_shape", "x_shape"), SHAPES[:3])
def test_axpy_backward_matches_the_analytic_gradient(caffe_root, a_shape, x_shape):
    a, x, y = _arrays(a_shape, x_shape, seed=2)
    dtop = np.random.default_rng(3).normal(0, 1, x_shape).astype(np.float32)
    g = gradients(axpy_net(a_shape, x_shape), {"a": a, "x": x, "y": y}, {"out": dtop})
    n, c = x_shape[:2]
    a64, x64, d64 = a.astype(np.float64).reshape(n, c, 1, 1), x.astype(np.float64), dtop.astype(np.float64)
    np.testing.assert_allclose(g["a"], (d64 * x64).sum(axis=(2, 3)).reshape(a_shape), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(g["x"], a64 * d64, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(g["y"], d64, rtol=0, atol=0)


def test_axpy_backward_passes_a_finite_difference_check(caffe_root):
    """Directional derivative of L = sum(w * out) by central differences through Caffe's forward."""
    a_shape, x_shape = (2, 3), (2, 3, 4, 4)
    a, x, y = _arrays(a_shape, x_shape, seed=4)
    rng = np.random.default_rng(5)
    w = rng.normal(0, 1, x_shape).astype(np.float32)
    va, vx, vy = (rng.normal(0, 1, s).astype(np.float32) for s in (a_shape, x_shape, x_shape))
    net = axpy_net(a_shape, x_shape)
    g = gradients(net, {"a": a, "x": x, "y": y}, {"out": w})
    analytic = float((g["a"] * va).sum() + (g["x"] * vx).sum() + (g["y"] * vy).sum())
    h = 1e-2

    def loss(sign: float) -> float:
        out = forward(net, inputs={"a": a + sign * h * va, "x": x + sign * h * vx, "y": y + sign * h * vy})["out"]
        return float((w.astype(np.float64) * out).sum())

    numeric = (loss(+1) - loss(-1)) / (2 * h)
    np.testing.assert_allclose(analytic, numeric, rtol=2e-3)


def test_axpy_rejects_mismatched_shapes(caffe_root):
    from senet_proto.errors import CaffeReferenceError

    with pytest.raises(CaffeReferenceError, match="Axpy"):
        forward(axpy_net((2, 4), (2, 3, 4, 4)))

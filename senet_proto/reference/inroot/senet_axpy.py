"""SENet's Axpy layer as a Caffe ``Python`` layer: top = a * X + Y.

Bottoms: a (N x C or N x C x 1 x 1), X (N x C x H x W), Y (same shape as X).
Runs inside the Caffe environment (Python 3.9, numpy 1.19); stands alone.
senet-proto rewrites ``type: "Axpy"`` layers of an in-memory copy of a net to
``type: "Python" python_param { module: "senet_axpy" layer: "AxpyLayer" }``.
"""

import caffe
import numpy as np


class AxpyLayer(caffe.Layer):
    def setup(self, bottom, top):
        if len(bottom) != 3 or len(top) != 1:
            raise ValueError("Axpy takes 3 bottoms (a, X, Y) and 1 top")

    def reshape(self, bottom, top):
        a, x, y = bottom[0].data.shape, bottom[1].data.shape, bottom[2].data.shape
        if x != y:
            raise ValueError("Axpy: X shape %s differs from Y shape %s" % (x, y))
        if len(x) < 2 or tuple(a[:2]) != tuple(x[:2]) or any(d != 1 for d in a[2:]):
            raise ValueError("Axpy: a has shape %s, expected N x C (x 1 x 1) for X of shape %s" % (a, x))
        top[0].reshape(*x)

    def _scale(self, blob, ndim):
        n, c = blob.shape[0], blob.shape[1]
        return blob.reshape((n, c) + (1,) * (ndim - 2))

    def forward(self, bottom, top):
        x = bottom[1].data
        a = self._scale(bottom[0].data, x.ndim)
        top[0].data[...] = a * x + bottom[2].data

    def backward(self, top, propagate_down, bottom):
        dtop = top[0].diff
        x = bottom[1].data
        if propagate_down[0]:
            axes = tuple(range(2, x.ndim))
            da = (dtop * x).sum(axis=axes, dtype=np.float64) if axes else dtop * x
            bottom[0].diff[...] = np.asarray(da, dtype=np.float32).reshape(bottom[0].diff.shape)
        if propagate_down[1]:
            bottom[1].diff[...] = self._scale(bottom[0].data, x.ndim) * dtop
        if propagate_down[2]:
            bottom[2].diff[...] = dtop

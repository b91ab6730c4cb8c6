"""Learnable parameters and multiply-adds (MACs) per layer.

What is counted (the paper's convention: multiply-adds of one forward pass):

- Convolution: one MAC per weight per output position: N·Cout·(Cin/group)·kh·kw·Hout·Wout (bias adds not
  counted). InnerProduct: M·K·num_output.
- Pooling (MAX and AVE, global included): one op per input element of each window, padding positions
  included: N·C·Hout·Wout·kh·kw (a global pooling reads its whole input once).
- Scale with two bottoms (the SE excitation ``x·s``) and Axpy (``a·x + y``): one MAC per output element.
- PReLU: its slopes are parameters; no multiply-adds counted (as ReLU).
- Not counted: BatchNorm and one-bottom Scale (at inference they fold into the convolution before them),
  ReLU, Sigmoid, TanH, Dropout, Softmax, Eltwise, Concat, Reshape, Flatten, Split, Input.

Learnable parameters: the sizes of the blobs Caffe makes for a layer (Convolution and InnerProduct weights and
biases, Scale and Bias blobs, PReLU slopes: the catalogue's ``made`` rule). BatchNorm's
three blobs (mean, variance, moving-average factor) are statistics, counted separately as ``stats``.
"""

from __future__ import annotations

import math

from ..caffe.layers import Cost, made_blobs, spec
from .shapes import LayerShapes


def layer_cost(ls: LayerShapes) -> Cost:
    """One layer's params, stats and MACs: the sizes of the blobs Caffe makes for it (its catalogue entry's
    ``made`` rule; statistics for BatchNorm) and the entry's ``cost`` rule's multiply-adds."""
    entry = spec(ls.type)
    if entry is None:
        return Cost()
    bottoms = list(ls.bottoms)
    size = sum(math.prod(s) for s in made_blobs(ls.layer, bottoms))
    macs = entry.cost(ls.layer, bottoms, list(ls.tops)).macs
    return Cost(params=0 if entry.statistics else size, stats=size if entry.statistics else 0, macs=macs)

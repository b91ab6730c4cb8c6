"""The real-Caffe reference: run Caffe 1.0 on a net, make realistic test weights, train a few steps.

Caffe always runs in a subprocess: the current Python when it can ``import caffe``
(checked in a subprocess), else ``chroot ROOT python3`` in a Debian 11 root with
``python3-caffe`` that ``root.ensure_root`` creates on first use (see ``backend``).
Axpy layers run as a Caffe Python layer (``inroot/senet_axpy.py``); the user's file
is never changed.
"""

from .api import INPUT_STD, backend_info, cached_weights, forward, gradients, make_weights, train

__all__ = ["INPUT_STD", "backend_info", "cached_weights", "forward", "gradients", "make_weights", "train"]

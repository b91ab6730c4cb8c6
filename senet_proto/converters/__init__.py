"""Converters: read Caffe nets and weights without Caffe, and turn them into other frameworks.

- ``load_caffe(prototxt, caffemodel, allow_extra=False) -> CaffeNet`` (``loader``)
- ``Registry`` / ``register`` (``registry``): one converter function per Caffe layer type and target.
"""

from .loader import CaffeNet, decode_blob, load_caffe
from .registry import Registry, check_supported

__all__ = ["CaffeNet", "Registry", "check_supported", "decode_blob", "load_caffe"]

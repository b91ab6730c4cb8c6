"""senet-proto: the Caffe SENet networks, generated, converted, verified and viewed."""

from .errors import SenetProtoError

__version__ = "0.1.0"

__all__ = ["SenetProtoError", "__version__"]

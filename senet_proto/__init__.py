"""senet-proto: the Caffe SENet networks, generated, converted, verified and viewed."""

from typing import Any

from .errors import SenetProtoError

__version__ = "0.1.0"

# Imported on first use, so that ``import senet_proto`` does not pay for torch.
_LAZY = {
    "load_caffe": "senet_proto.converters.loader",
    "build_module": "senet_proto.converters.pytorch",
    "load_pytorch": "senet_proto.converters.pytorch_io",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from .optional import import_optional

        return getattr(import_optional(_LAZY[name], what=f"senet_proto.{name}"), name)
    raise AttributeError(f"module 'senet_proto' has no attribute {name!r}")


__all__ = ["SenetProtoError", "__version__", "build_module", "load_caffe", "load_pytorch"]

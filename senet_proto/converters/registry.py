"""Converter registries: one function per Caffe layer type, registered by type name.

A ``Registry`` is keyed by Caffe type (``"Convolution"``). Each target (PyTorch
here; ONNX elsewhere) has its own registry whose functions share one signature.
Registering a type twice is a programming error (``ValueError``); looking up a
type nobody registered raises ``UnsupportedLayerError`` naming the layer, its
type and the supported types, as Caffe's "Unknown layer type" does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from ..caffe import caffe_pb2
from ..caffe.layers import spec
from ..errors import UnsupportedLayerError

F = TypeVar("F", bound=Callable[..., object])

class Registry(Generic[F]):
    """Caffe layer type -> converter function for one target."""

    def __init__(self, target: str) -> None:
        self.target = target
        self._fns: dict[str, F] = {}

    def register(self, *types: str) -> Callable[[F], F]:
        """Decorator: ``@registry.register("Convolution")`` (several types may share one function)."""
        if not types:
            raise ValueError("register() needs at least one Caffe layer type")

        def deco(fn: F) -> F:
            for t in types:
                if t in self._fns:
                    raise ValueError(
                        f"{self.target} converter for Caffe type '{t}' registered twice "
                        f"({self._fns[t].__module__}.{self._fns[t].__qualname__} and {fn.__module__}.{fn.__qualname__})"
                    )
                self._fns[t] = fn
            return fn

        return deco

    def __contains__(self, layer_type: object) -> bool:
        return layer_type in self._fns

    def supported(self) -> list[str]:
        return sorted(self._fns)

    def lookup(self, layer: caffe_pb2.LayerParameter | str) -> F:
        """The converter for a layer (or a type name); UnsupportedLayerError if there is none."""
        layer_type = layer if isinstance(layer, str) else layer.type
        fn = self._fns.get(layer_type)
        if fn is not None:
            return fn
        where = f"'{layer.name}' " if not isinstance(layer, str) else ""
        known = ", ".join(self.supported())
        raise UnsupportedLayerError(f"layer {where}has type '{layer_type}': {self.refusal(layer_type)} "
                                    f"(known types: {known})")

    def refusal(self, layer_type: str) -> str:
        """Why this target does not convert ``layer_type`` (the catalogue's stated reason, if it has one)."""
        entry = spec(layer_type)
        if layer_type == "Python":
            return "Python layers run user code and cannot be converted"
        if entry is not None and self.target in entry.refused:
            return entry.refused[self.target]
        return f"unknown layer type for {self.target}"


def check_supported(layers: list[caffe_pb2.LayerParameter], registry: Registry) -> None:
    """Raise UnsupportedLayerError for the first layer the registry cannot convert."""
    for layer in layers:
        registry.lookup(layer)


# The PyTorch target: functions ``(node: graph.Node) -> torch.nn.Module`` (see converters/layers/).
TORCH_LAYERS: Registry = Registry("pytorch")
register = TORCH_LAYERS.register

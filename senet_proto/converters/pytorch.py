"""A ``torch.nn.Module`` that runs a Caffe net: ``build_module(caffenet)``.

Submodules are named after the Caffe layers (sanitised: characters other than
letters, digits and ``_`` become ``_``); a merged BatchNorm+Scale pair takes
the BatchNorm's name, a convolution with a folded BatchNorm keeps its own.
``forward(*inputs, **named_inputs)`` returns the net's outputs (Caffe's rule:
tops no later layer consumes, sorted by name; one tensor if there is one);
``forward_blobs(...)`` returns every blob's final value, as Caffe's
``net.blobs`` after a forward pass (in-place blobs hold the last value).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from ..caffe import caffe_pb2
from ..errors import CaffemodelError, SenetProtoError, UsageError
from . import layers as _layers  # noqa: F401  (registers the PyTorch converters)
from .graph import Graph
from .layers.conv import prepack_convolutions
from .loader import CaffeNet
from .registry import TORCH_LAYERS
from .torch_layout import module_graph, module_keys


def prepare_graph(caffenet: CaffeNet, *, fuse_bn: bool = False, merge_bn: bool = True,
                  phase: int = caffe_pb2.TEST) -> Graph:
    """The graph a module is built from (see ``torch_layout.module_graph``)."""
    for layer in caffenet.layers(phase):
        TORCH_LAYERS.lookup(layer)  # fail early, naming the first unsupported layer
    return module_graph(caffenet, fuse_bn=fuse_bn, merge_bn=merge_bn, phase=phase)


class LayerError(RuntimeError):
    """A layer failed while the module ran; the message names the Caffe layer and its bottoms' shapes."""


class CaffeNetModule(nn.Module):
    """Runs the layers in Caffe's order over a dict of blob name -> tensor."""

    def __init__(self, graph: Graph) -> None:
        super().__init__()
        self.input_names: tuple[str, ...] = tuple(graph.inputs)
        self.input_shapes: dict[str, tuple[int, ...]] = dict(graph.inputs)
        self.output_names: tuple[str, ...] = tuple(graph.outputs)
        self.layer_names: dict[str, str] = {}  # module name -> Caffe layer name
        self.metadata: dict[str, str] = {}  # conventions of the weights, when loaded from a converted file
        steps: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = []
        for key, node in zip(module_keys(graph), graph.nodes, strict=True):
            fn = TORCH_LAYERS.lookup(node.layer)
            try:
                module = fn(node)
            except SenetProtoError:
                raise
            except (ValueError, RuntimeError) as e:
                raise CaffemodelError(f"layer '{node.name}' ({node.type}): {e}") from None
            self.add_module(key, module)
            self.layer_names[key] = node.name
            steps.append((key, node.bottoms, node.tops))
        self._steps = steps
        # forward() frees a blob after its last reader unless it is an output
        last_use: dict[str, int] = {}
        for i, (_, bottoms, _) in enumerate(steps):
            for b in bottoms:
                last_use[b] = i
        self._free: list[tuple[str, ...]] = [() for _ in steps]
        outputs = set(self.output_names)
        for name, i in last_use.items():
            if name not in outputs:
                self._free[i] = (*self._free[i], name)
        self.eval()

    def _inputs(self, args: tuple[torch.Tensor, ...], kwargs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if len(args) > len(self.input_names):
            raise UsageError(f"the net takes {len(self.input_names)} input(s) ({', '.join(self.input_names)}), "
                             f"got {len(args)}")
        blobs = dict(zip(self.input_names, args, strict=False))
        for k, v in kwargs.items():
            if k not in self.input_shapes:
                raise UsageError(f"{k!r} is not an input of the net (inputs: {', '.join(self.input_names)})")
            if k in blobs:
                raise UsageError(f"input {k!r} given twice")
            blobs[k] = v
        missing = [n for n in self.input_names if n not in blobs]
        if missing:
            raise UsageError(f"missing input(s): {', '.join(missing)}")
        return blobs

    def _run(self, blobs: dict[str, torch.Tensor], keep: bool) -> dict[str, torch.Tensor]:
        modules = self._modules
        for i, (key, bottoms, tops) in enumerate(self._steps):
            try:
                out: Any = modules[key](*[blobs[b] for b in bottoms])  # type: ignore[misc]
            except (RuntimeError, ValueError, IndexError, TypeError) as e:
                shapes = ", ".join(f"{b} {tuple(blobs[b].shape)}" for b in bottoms)
                raise LayerError(f"layer '{self.layer_names[key]}' ({type(modules[key]).__name__}) on {shapes}: "
                                 f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from e
            if len(tops) == 1:
                blobs[tops[0]] = out
            else:
                for t, o in zip(tops, out, strict=True):
                    blobs[t] = o
            if not keep:
                for name in self._free[i]:
                    del blobs[name]
        return blobs

    def forward(self, *inputs: torch.Tensor, **named: torch.Tensor) -> Any:
        blobs = self._run(self._inputs(inputs, named), keep=False)
        if len(self.output_names) == 1:
            return blobs[self.output_names[0]]
        return tuple(blobs[n] for n in self.output_names)

    def forward_blobs(self, *inputs: torch.Tensor, **named: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every blob's final value after the forward pass (the inputs included), by Caffe blob name."""
        return self._run(self._inputs(inputs, named), keep=True)

    def optimize_for_inference(self, enabled: bool = True) -> CaffeNetModule:
        """CPU float32 inference with each 2-D convolution's weight kept in oneDNN's layout (``layers.conv.Conv2d``):
        faster on the CPU (measured in bench/README.md). Made on first use, redone when a weight
        is replaced or changed in place through its parameter; after edits through ``weight.data`` call this
        again. ``enabled=False`` returns to plain ``nn.Conv2d``. Autograd and other devices are unaffected.
        Returns the module."""
        prepack_convolutions(self, enabled)
        return self

    def check_shapes(self, input_shapes: Mapping[str, tuple[int, ...]] | None = None) -> dict[str, tuple[int, ...]]:
        """Run the net on meta tensors (no data, no time) of the declared input shapes; every blob's shape.

        A layer whose weights do not fit its bottoms raises CaffemodelError naming it and the shapes.
        """
        shapes = dict(input_shapes or self.input_shapes)
        inputs = {k: torch.empty(s, device="meta") for k, s in shapes.items()}
        saved: list[tuple[dict[str, Any], str, Any]] = []
        try:
            for mod in self.modules():  # swap every weight for a meta tensor of its shape (restored below)
                stores: tuple[dict[str, Any], ...] = (mod._parameters, mod._buffers)
                for store in stores:
                    for k, v in store.items():
                        if v is not None:
                            saved.append((store, k, v))
                            store[k] = torch.empty_like(v, device="meta")
            with torch.no_grad():
                blobs = self._run(inputs, keep=True)
        except LayerError as e:
            raise CaffemodelError(f"{e} (net input shapes: "
                                  f"{', '.join(f'{k} {tuple(v)}' for k, v in shapes.items())})") from None
        finally:
            for store, k, v in saved:
                store[k] = v
        return {k: tuple(v.shape) for k, v in blobs.items()}


def build_module(caffenet: CaffeNet, *, fuse_bn: bool = False, merge_bn: bool = True,
                 check: bool = True) -> CaffeNetModule:
    """The PyTorch module for a loaded net (``load_caffe``), in eval mode, float32 on the CPU.

    With ``check`` (default) the net runs once on meta tensors of the declared input shapes, so that
    weights that do not fit (e.g. an InnerProduct's input size) are a CaffemodelError naming the layer.
    """
    module = CaffeNetModule(prepare_graph(caffenet, fuse_bn=fuse_bn, merge_bn=merge_bn))
    if check and module.input_shapes and all(module.input_shapes.values()):
        module.check_shapes()
    return module

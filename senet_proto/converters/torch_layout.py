"""The PyTorch module's layout without PyTorch: submodule names and state-dict arrays from a graph.

``senet-proto convert --to pytorch`` writes the state dict straight from the (memory-mapped) Caffe blobs
without importing torch (whose memory cost bench/README.md records). ``CaffeNetModule`` names its submodules
with the same ``module_keys``, and tests check that ``state_arrays`` equals the built module's ``state_dict()``
key for key and bit for bit, so there is one source of truth for the layout.
"""

from __future__ import annotations

import re

import numpy as np

from ..caffe import caffe_pb2
from ..caffe.layers import converted_types
from ..caffe.layers.norm import uses_global_stats
from ..caffe.layers.pool import converted_geometry
from ..errors import CaffemodelError, UnsupportedLayerError
from .graph import Graph, Node, batchnorm_stats, build_graph, fold_batchnorm, merge_batchnorm_scale
from .lazy import LazyArray, Tensor, blob_tensor
from .loader import CaffeNet

# Caffe types the PyTorch module supports, from the catalogue (tests check this equals the torch registry).
SUPPORTED = converted_types("pytorch")

# Attribute names a submodule may not take: nn.Module's own and CaffeNetModule's (tests keep this current).
RESERVED = frozenset((
    'T_destination', '__annotations__', '__call__', '__class__', '__delattr__', '__dict__', '__dir__',
    '__doc__', '__eq__', '__format__', '__ge__', '__getattr__', '__getattribute__', '__getstate__', '__gt__',
    '__hash__', '__init__', '__init_subclass__', '__le__', '__lt__', '__module__', '__ne__', '__new__',
    '__reduce__', '__reduce_ex__', '__repr__', '__setattr__', '__setstate__', '__sizeof__', '__str__',
    '__subclasshook__', '__weakref__', '_apply', '_backward_hooks', '_backward_pre_hooks', '_buffers',
    '_call_impl', '_compiled_call_impl', '_forward_hooks', '_forward_hooks_always_called',
    '_forward_hooks_with_kwargs', '_forward_pre_hooks', '_forward_pre_hooks_with_kwargs', '_get_backward_hooks',
    '_get_backward_pre_hooks', '_get_name', '_is_full_backward_hook', '_load_from_state_dict',
    '_load_state_dict_post_hooks', '_load_state_dict_pre_hooks', '_maybe_warn_non_full_backward_hook',
    '_modules', '_named_members', '_non_persistent_buffers_set', '_parameters',
    '_register_load_state_dict_pre_hook', '_register_state_dict_hook', '_replicate_for_data_parallel',
    '_save_to_state_dict', '_slow_forward', '_state_dict_hooks', '_state_dict_pre_hooks', '_version',
    '_wrapped_call_impl', 'add_module', 'apply', 'bfloat16', 'buffers', 'call_super_init', 'children',
    'compile', 'cpu', 'cuda', 'double', 'dump_patches', 'eval', 'extra_repr', 'float', 'forward', 'get_buffer',
    'get_extra_state', 'get_parameter', 'get_submodule', 'half', 'input_names', 'input_shapes', 'ipu',
    'layer_names', 'load_state_dict', 'metadata', 'modules', 'mtia', 'named_buffers', 'named_children',
    'named_modules', 'named_parameters', 'output_names', 'parameters', 'register_backward_hook',
    'register_buffer', 'register_forward_hook', 'register_forward_pre_hook', 'register_full_backward_hook',
    'register_full_backward_pre_hook', 'register_load_state_dict_post_hook',
    'register_load_state_dict_pre_hook', 'register_module', 'register_parameter',
    'register_state_dict_post_hook', 'register_state_dict_pre_hook', 'requires_grad_', 'set_extra_state',
    'set_submodule', 'share_memory', 'state_dict', 'to', 'to_empty', 'train', 'training', 'type', 'xpu',
    'zero_grad'
))


def sanitize(name: str) -> str:
    s = re.sub(r"\W", "_", name, flags=re.ASCII)
    return s if s and not s[0].isdigit() else f"_{s}"


def module_keys(graph: Graph) -> list[str]:
    """The submodule name of each node: its sanitised Caffe name, made unique."""
    used: set[str] = set()
    keys = []
    for node in graph.nodes:
        key = sanitize(node.name)
        while key in used or key in RESERVED:
            key += "_"
        used.add(key)
        keys.append(key)
    return keys


def module_graph(caffenet: CaffeNet, *, fuse_bn: bool = False, merge_bn: bool = True,
                 phase: int = caffe_pb2.TEST, lazy: bool = False) -> Graph:
    """The graph a module is built from: TEST-phase layers, BatchNorm+Scale merged, optionally folded
    (``lazy``: folded weights computed when used, see ``graph.fold_batchnorm``)."""
    from .registry import Registry

    g = build_graph(caffenet, phase)
    known: Registry = Registry("pytorch")
    for t in sorted(SUPPORTED):
        known.register(t)(lambda node: None)
    for node in g.nodes:
        known.lookup(node.layer)  # fail early, naming the first unsupported layer
        if node.type == "Pooling":  # parameters the module refuses (round_mode FLOOR, STOCHASTIC), as it does
            converted_geometry(node.layer)
    if merge_bn or fuse_bn:
        merge_batchnorm_scale(g)
    if fuse_bn:
        fold_batchnorm(g, lazy=lazy)
    return g


def _f32(a: Tensor) -> Tensor:
    if a.dtype == np.float32:
        return a
    if isinstance(a, LazyArray):
        raise TypeError(f"lazy {a.dtype} array: only float32 ones are expected")
    return a.astype(np.float32)


def _node_state(node: Node) -> dict[str, Tensor]:
    t = node.type
    where = f"layer '{node.name}' ({t})"
    if t == "Convolution":
        if not node.blobs:
            raise CaffemodelError(f"{where}: has no weights")
        out: dict[str, Tensor] = {"weight": blob_tensor(node.blobs, 0)}  # maybe lazy: a folded weight
        if len(node.blobs) > 1:
            out["bias"] = node.blobs[1].reshape(-1)
        return out
    if t == "InnerProduct":
        if not node.blobs:
            raise CaffemodelError(f"{where}: has no weights")
        w = node.blobs[0]
        w = w.reshape(w.shape[-2:]) if w.ndim > 2 else w
        out = {"weight": np.ascontiguousarray(w.T) if node.layer.inner_product_param.transpose else w}
        if len(node.blobs) > 1:
            out["bias"] = node.blobs[1].reshape(-1)
        return out
    if t == "BatchNorm":
        global_stats = uses_global_stats(node.layer)
        if not node.blobs and "mean" not in node.attrs:
            raise CaffemodelError(f"{where}: has no weights")
        mean, var = batchnorm_stats(node)
        out = {}
        gamma = node.attrs.get("gamma")
        if gamma is not None:
            beta = node.attrs.get("beta")
            out["weight"] = gamma
            out["bias"] = beta if beta is not None else np.zeros_like(gamma)
        if global_stats:
            out.update(running_mean=mean, running_var=var, num_batches_tracked=np.zeros((), np.int64))
        return out
    if t == "Scale":
        if len(node.bottoms) > 1:
            return {"bias": node.blobs[0]} if node.blobs else {}
        if not node.blobs:
            raise CaffemodelError(f"{where}: has no weights")
        out = {"weight": node.blobs[0]}
        if len(node.blobs) > 1:
            out["bias"] = node.blobs[1]
        return out
    if t == "PReLU":
        if not node.blobs:
            raise CaffemodelError(f"{where}: has no weights")
        return {"weight": node.blobs[0].reshape(-1)}
    if t == "Bias":
        return {"bias": node.blobs[0]} if len(node.bottoms) == 1 and node.blobs else {}
    if t not in SUPPORTED:
        raise UnsupportedLayerError(f"{where}: not supported by the PyTorch module")
    return {}


def state_arrays(graph: Graph) -> dict[str, Tensor]:
    """The module's state dict as NumPy arrays (views of the Caffe blobs where no arithmetic is needed), and
    ``LazyArray`` for folded weights of a lazily folded graph (``module_graph(..., lazy=True)``)."""
    state: dict[str, Tensor] = {}
    for key, node in zip(module_keys(graph), graph.nodes, strict=True):
        for name, arr in _node_state(node).items():
            state[f"{key}.{name}"] = arr if arr.dtype == np.int64 else _f32(arr)
    return state

"""The PyTorch artifact: one self-contained ``.safetensors`` file (no pickle).

Tensors: the module's ``state_dict`` (BatchNorm folded into convolutions when
``fuse_bn``). Metadata (strings): ``senet_proto.format`` = ``pytorch-module``,
the TEST-phase net as prototxt text, each layer's Caffe blob shapes (to rebuild
the module's structure), ``fuse_bn``, and the weight conventions (input channel
order, range and mean; class order; see ``conventions.metadata``).
``load_pytorch(path)`` rebuilds the module and loads the tensors strictly.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..caffe import caffe_pb2, format_prototxt, parse_prototxt
from ..errors import CaffemodelError, PrototxtError
from ..optional import require
from .conventions import ConvertOptions, metadata
from .loader import CaffeNet
from .safetensors_io import write_safetensors
from .torch_layout import module_graph, state_arrays

if TYPE_CHECKING:
    from .pytorch import CaffeNetModule

FORMAT = "pytorch-module"
FORMAT_VERSION = "1"


def deploy_net(caffenet: CaffeNet) -> caffe_pb2.NetParameter:
    """The net with only its TEST-phase layers (what the module runs)."""
    net = caffe_pb2.NetParameter()
    net.name = caffenet.net.name
    net.layer.extend(caffenet.layers())
    for layer in net.layer:
        layer.ClearField("include")
        layer.ClearField("exclude")
    return net


def export_pytorch(caffenet: CaffeNet, out: str | os.PathLike[str], options: ConvertOptions,
                   force: bool = False) -> Path:
    """Write the module's state dict and structure to ``out`` atomically, without importing torch.

    The state dict comes from ``torch_layout.state_arrays`` (the layout ``CaffeNetModule`` uses) and is streamed
    from the caffemodel's memory-mapped blobs, so the peak memory stays close to the caffemodel's size.
    """
    graph = module_graph(caffenet, fuse_bn=options.fuse_bn, lazy=True)  # folded weights made one at a time
    state = state_arrays(graph)
    shapes = {name: [list(b.shape) for b in blobs] for name, blobs in caffenet.weights.items()}
    meta = metadata(options, Path(caffenet.source).name if caffenet.source else "")
    meta.update({
        "senet_proto.format": FORMAT,
        "senet_proto.format_version": FORMAT_VERSION,
        "prototxt": format_prototxt(deploy_net(caffenet)),
        "blob_shapes": json.dumps(shapes, separators=(",", ":")),
    })
    return write_safetensors(out, state, meta, force=force)


def read_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The metadata of a senet-proto safetensors file (CaffemodelError if it is not one); only its header is read
    (no torch, no safetensors package)."""
    from ..filekinds import file_safetensors_header

    p = Path(path)
    if not p.is_file():
        raise CaffemodelError(f"{p}: no such file")
    header = file_safetensors_header(p)
    if header is None:
        raise CaffemodelError(f"{p}: not a readable safetensors file")
    meta = header.get("__metadata__") or {}
    if meta.get("senet_proto.format") != FORMAT:
        raise CaffemodelError(f"{p}: not a senet-proto PyTorch file (no '{FORMAT}' format in its metadata)")
    if meta.get("senet_proto.format_version") != FORMAT_VERSION:
        raise CaffemodelError(f"{p}: format version {meta.get('senet_proto.format_version')} is not supported")
    return meta


def embedded_prototxt(path: str | os.PathLike[str]) -> str | None:
    """The net (TEST-phase prototxt text) that a senet-proto PyTorch file embeds; None for any other file."""
    from ..filekinds import file_safetensors_header

    header = file_safetensors_header(path)
    meta = (header or {}).get("__metadata__") or {}
    if meta.get("senet_proto.format") != FORMAT or not isinstance(meta.get("prototxt"), str):
        return None
    return str(meta["prototxt"])


def read_embedded_net(path: str | os.PathLike[str]
                      ) -> tuple[dict[str, str], caffe_pb2.NetParameter, dict[str, list[list[int]]]]:
    """The metadata of a ``--to pytorch`` file, its embedded net and each layer's Caffe blob shapes."""
    meta = read_metadata(path)
    try:
        net = parse_prototxt(meta["prototxt"], source=f"{path} (embedded prototxt)")
        shapes = json.loads(meta["blob_shapes"])
    except (KeyError, ValueError) as e:
        raise CaffemodelError(f"{path}: damaged metadata ({e})") from None
    except PrototxtError as e:
        raise CaffemodelError(str(e)) from None
    return meta, net, shapes


def load_pytorch(path: str | os.PathLike[str], *, map_location: str = "cpu") -> CaffeNetModule:
    """Rebuild the module saved by ``export_pytorch`` (``senet-proto convert --to pytorch``) and load its weights."""
    require("torch", "safetensors", what="load_pytorch")
    from safetensors.torch import load_file

    from .pytorch import build_module

    meta, net, shapes = read_embedded_net(path)
    weights = {name: [np.zeros(s, dtype=np.float32) for s in blob_shapes] for name, blob_shapes in shapes.items()}
    # no shape check: load_state_dict(strict=True) below checks every tensor against the embedded net
    module = build_module(CaffeNet(net=net, weights=weights, source=str(path)), fuse_bn=meta.get("fuse_bn") == "true",
                          check=False)
    try:
        state = load_file(str(path), device=map_location)
        module.load_state_dict(state, strict=True)
    except Exception as e:
        raise CaffemodelError(f"{path}: weights do not fit the embedded net ({str(e).splitlines()[0]})") from None
    module.metadata = {k: v for k, v in meta.items() if k not in ("prototxt", "blob_shapes")}
    return module.eval()

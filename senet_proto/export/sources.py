"""What ``export`` reads: a timm SENet's state dict (a legacy SENet, or an SE ResNet that ``timm_resnet`` reads)
and the conventions its file records.

- a timm model name with ``--weights FILE``: safetensors, or a PyTorch state dict read with
  ``torch.load(weights_only=True)`` (nothing else is unpickled);
- a ``convert --to timm`` safetensors (its metadata names the model and the conventions);
- a timm folder (``config.json`` naming the ``architecture`` + ``model.safetensors``), as timm's local-dir reads;
- a ``convert --to pytorch`` safetensors: its embedded net and weights, mapped to timm's keys.

Tensors are read one at a time (safetensors) when the exporter asks for them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..converters.conventions import ConvertOptions
from ..converters.timm import TIMM_ARCHS
from ..errors import CaffemodelError, UsageError
from ..filekinds import file_safetensors_header
from .timm_resnet import resnet_arch

SAFETENSORS_FORMATS = ("timm-state-dict", "pytorch-module")


@dataclass
class WeightSource:
    """A timm state dict: key -> shape, a reader of one tensor, and the recorded conventions (or None)."""

    model: str
    shapes: dict[str, tuple[int, ...]]
    read: Callable[[str], np.ndarray]
    description: str
    conventions: ConvertOptions | None = None
    metadata: dict[str, str] = field(default_factory=dict)


def _recorded(meta: dict[str, str]) -> ConvertOptions | None:
    if "input" not in meta and "class_order" not in meta:
        return None
    options = ConvertOptions(input=meta.get("input", "bgr255"), class_order=meta.get("class_order", "official"))
    try:
        options.validate()
    except UsageError as e:
        raise CaffemodelError(f"the weights' metadata records unknown conventions ({e})") from None
    return options


def _float32(arr: np.ndarray) -> np.ndarray:
    return arr if arr.dtype == np.float32 or arr.dtype == np.int64 else arr.astype(np.float32)


def _safetensors(path: Path) -> tuple[dict[str, tuple[int, ...]], Callable[[str], np.ndarray], dict[str, str]]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="np") as f:
            shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118 (not a dict)
            meta = dict(f.metadata() or {})
    except Exception as e:  # safetensors raises its own SafetensorError
        raise CaffemodelError(f"{path}: not a readable safetensors file ({str(e).splitlines()[0]})") from None

    handle: list[Any] = []  # one open file for all reads

    def read(key: str) -> np.ndarray:
        try:
            if not handle:
                handle.append(safe_open(str(path), framework="np"))
            return _float32(handle[0].get_tensor(key))
        except Exception as e:  # e.g. a dtype NumPy has not (bfloat16)
            raise CaffemodelError(f"{path}: cannot read {key} ({str(e).splitlines()[0]})") from None

    return shapes, read, meta


def _torch_state_dict(path: Path) -> dict[str, np.ndarray]:
    import torch

    try:
        obj: Any = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # an UnpicklingError for a pickle weights_only refuses, others for damaged files
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CaffemodelError(f"{path}: neither safetensors nor a state dict torch.load(weights_only=True) "
                              f"accepts ({first})") from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CaffemodelError(f"{path}: holds a {type(obj).__name__}, not a state dict of tensors")
    return {str(k): _float32(v.detach().cpu().numpy()) for k, v in obj.items()}


def _check_model(model: str) -> str:
    """A legacy SENet, or a timm SE ResNet whose structure Caffe expresses exactly (else one line saying why)."""
    if model in TIMM_ARCHS:
        return model
    resnet_arch(model)
    return model


def from_weights(model: str, weights: str | os.PathLike[str]) -> WeightSource:
    """A timm model name and a weights file (safetensors or a ``weights_only`` PyTorch state dict)."""
    _check_model(model)
    path = Path(weights)
    if not path.is_file():
        raise CaffemodelError(f"{path}: no such file")
    if file_safetensors_header(path) is not None:
        shapes, read, meta = _safetensors(path)
        if meta.get("senet_proto.format") == "pytorch-module":
            return _pytorch_module(path, model)
    else:
        sd = _torch_state_dict(path)
        shapes, read, meta = {k: tuple(v.shape) for k, v in sd.items()}, sd.__getitem__, {}
    return WeightSource(model, shapes, read, path.name, _recorded(meta), meta)


def _timm_dir(path: Path, model: str | None) -> WeightSource:
    config_path, weights = path / "config.json", path / "model.safetensors"
    if not config_path.is_file() or not weights.is_file():
        raise UsageError(f"{path}: a timm folder holds config.json and model.safetensors")
    try:
        config = json.loads(config_path.read_text())
    except (OSError, ValueError) as e:
        raise CaffemodelError(f"{config_path}: not readable JSON ({e})") from None
    arch = config.get("architecture") if isinstance(config, dict) else None
    if not isinstance(arch, str):
        raise CaffemodelError(f"{config_path}: names no 'architecture'")
    if model and model != arch:
        raise UsageError(f"{path} holds {arch}, not {model}")
    shapes, read, meta = _safetensors(weights)
    # conventions: the weights' own metadata, else what config.json records under "senet_proto"
    recorded = config.get("senet_proto") if isinstance(config.get("senet_proto"), dict) else {}
    meta = {**{k: str(v) for k, v in recorded.items()}, **meta}
    return WeightSource(_check_model(arch), shapes, read, path.name, _recorded(meta), meta)


def _pytorch_module(path: Path, model: str | None) -> WeightSource:
    """A ``convert --to pytorch`` file: its Caffe blobs (from the module's state dict) mapped to timm's keys."""
    from ..converters.timm import infer_timm_model, to_timm_state_dict
    from .pytorch_blobs import caffenet_from_pytorch_file

    caffenet, meta = caffenet_from_pytorch_file(path)
    try:
        name = infer_timm_model(caffenet)
        sd = to_timm_state_dict(caffenet)
    except (UsageError, CaffemodelError) as e:
        raise UsageError(f"{path}: its net is not one of timm's legacy SENets, which export takes "
                         f"({str(e).removeprefix('--to timm: ')})") from None
    if model and model != name:
        raise UsageError(f"{path} holds {name}, not {model}")
    return WeightSource(name, {k: tuple(v.shape) for k, v in sd.items()}, sd.__getitem__, path.name,
                        _recorded(meta), meta)


def open_source(model: str, weights: str | None) -> WeightSource:
    """MODEL (a timm name, a timm folder or a senet-proto safetensors file) and ``--weights``."""
    path = Path(model)
    if weights is not None:
        if path.exists():
            raise UsageError("--weights goes with a timm model name; MODEL is a file or folder here")
        return from_weights(model, weights)
    if path.is_dir():
        return _timm_dir(path, None)
    if path.is_file():
        if file_safetensors_header(path) is None:
            raise UsageError(f"{path}: not a safetensors file; give a timm model name with --weights FILE")
        shapes, read, meta = _safetensors(path)
        fmt = meta.get("senet_proto.format")
        if fmt == "pytorch-module":
            return _pytorch_module(path, None)
        if fmt == "timm-state-dict" and meta.get("timm_model"):
            return WeightSource(_check_model(meta["timm_model"]), shapes, read, path.name, _recorded(meta), meta)
        raise UsageError(f"{path}: names no timm model; give the model name with --weights {path}")
    _check_model(model)
    raise UsageError(f"{model}: give its weights with --weights FILE (nothing is downloaded)")

"""Any converted net behind one interface: ``load_classifier(MODEL[, CAFFEMODEL])``.

MODEL is a prototxt (or architecture id) with its caffemodel, a ``--to pytorch`` safetensors file, an ONNX
file or a ``--to timm-dir`` folder. Each carries (or, for a plain Caffe pair, implies) its conventions: input
channel order, mean and scale, crop size, class order. ``Classifier.probabilities`` takes a uint8 RGB batch
of crops and returns softmax probabilities in the standard ImageNet order (the official order permuted with
``data/label_map.csv``; nets with another class count keep their own order).
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..converters.conventions import BGR_MEAN, label_map
from ..errors import CaffemodelError, UsageError
from ..optional import import_optional
from .images import Preprocess, default_resize
from .labels import IMAGENET_CLASSES

TIMM_CONFIG = "config.json"


@dataclass
class Classifier:
    """A loaded net: ``run`` maps a float32 input batch on ``device`` to its raw outputs."""

    kind: str
    prep: Preprocess
    num_classes: int
    run: Callable[[Any], Any]
    device: str = "cpu"
    outputs_probabilities: bool = False  # the net ends in a Softmax
    official_order: bool = False  # classes in the official caffemodels' own order
    info: dict[str, str] = field(default_factory=dict)

    @property
    def imagenet(self) -> bool:
        return self.num_classes == IMAGENET_CLASSES

    def probabilities(self, crops: Any) -> Any:
        """uint8 (N, 3, H, W) RGB tensor -> float32 (N, classes) probabilities (standard order when 1000)."""
        import torch

        with torch.inference_mode():
            x = self.prep.normalize(crops.to(self.device, non_blocking=True))
            try:
                out = self.run(x)
            except RuntimeError as e:  # e.g. a crop size the net's fixed layers cannot take (--size)
                raise CaffemodelError(f"the {self.kind} model cannot run on input {tuple(x.shape)}: "
                                      f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
            out = out.reshape(out.shape[0], -1).float()
            if not self.outputs_probabilities:
                out = torch.softmax(out, dim=1)
            if self.official_order and self.imagenet:
                out = out[:, torch.as_tensor(_standard_order(), device=out.device)]
            return out


@functools.cache
def _standard_order() -> np.ndarray:
    """The official class index of each standard class (``label_map``, read once)."""
    return label_map()


def _caffe_prep(channel_order: str, mean: tuple[float, ...], size: int) -> Preprocess:
    """The Caffe-style input: 0-255 minus the mean in the net's channel order (``mean`` in that order)."""
    rgb_mean = tuple(mean[::-1]) if channel_order == "BGR" else tuple(mean)
    return Preprocess(size=size, resize=default_resize(size), channel_order=channel_order,
                      mean255=(float(rgb_mean[0]), float(rgb_mean[1]), float(rgb_mean[2])))


def _square_size(shape: Any, where: str) -> int:
    dims = list(shape)
    if len(dims) != 4 or dims[1] != 3 or not isinstance(dims[2], int) or dims[2] != dims[3] or dims[2] < 1:
        raise CaffemodelError(f"{where}: input shape {tuple(dims)} is not (N, 3, S, S): not an image classifier")
    return int(dims[2])


def classifier_from_module(module: Any, kind: str, meta: dict[str, str], device: str) -> Classifier:
    """A ``CaffeNetModule`` with the conventions in ``meta`` (none: the official weights' own)."""
    from ..converters.layers.shape import Softmax

    if len(module.input_names) != 1 or len(module.output_names) != 1:
        raise CaffemodelError(f"{kind}: the net has {len(module.input_names)} inputs and {len(module.output_names)} "
                              "outputs; an image classifier has one of each")
    name = module.input_names[0]
    size = _square_size(module.input_shapes[name], f"{kind} input '{name}'")
    shapes = module.check_shapes({name: (1, 3, size, size)})
    out_shape = shapes[module.output_names[0]]
    classes = int(np.prod(out_shape[1:]))
    order = meta.get("input_channel_order", "BGR")
    mean = tuple(float(m) for m in meta["input_mean"].split(",")) if "input_mean" in meta else BGR_MEAN
    last = module._modules[module._steps[-1][0]]
    module.to(device)
    return Classifier(kind=kind, prep=_caffe_prep(order, mean, size), num_classes=classes, run=module,
                      device=device, outputs_probabilities=isinstance(last, Softmax),
                      official_order=meta.get("class_order", "official") == "official", info=meta)


def _load_pair(prototxt: str, caffemodel: str, device: str) -> Classifier:
    from ..converters.loader import load_caffe
    from ..converters.pytorch import build_module
    from ..nets import resolve_net

    net = resolve_net(prototxt)
    module = build_module(load_caffe(net, caffemodel))
    return classifier_from_module(module, "caffe", {"net": net.name}, device)


def _load_pytorch(path: Path, device: str) -> Classifier:
    from ..converters.pytorch_io import load_pytorch, read_metadata

    try:
        meta = read_metadata(path)
    except CaffemodelError:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            if (f.metadata() or {}).get("senet_proto.format") == "timm-state-dict":
                raise CaffemodelError(f"{path}: a bare timm state dict; convert with --to timm-dir for a folder "
                                      "that carries its conventions") from None
        raise
    module = load_pytorch(path)
    if module.metadata.get("input_range", "0-255") != "0-255":
        raise CaffemodelError(f"{path}: input range {module.metadata['input_range']} is not supported")
    name = re.search(r'^name:\s*"([^"]*)"', meta.get("prototxt", ""), re.MULTILINE)
    return classifier_from_module(module, "pytorch", {**module.metadata, "net": name.group(1) if name else ""}, device)


def _load_onnx(path: Path, device: str) -> Classifier:
    import onnx
    import onnxruntime as ort
    import torch

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # protobuf's DecodeError and OSError
        raise CaffemodelError(f"{path}: not a readable ONNX file ({str(e).splitlines()[0]})") from None
    meta = {p.key: p.value for p in model.metadata_props}
    graph = model.graph
    inits = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in inits]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise CaffemodelError(f"{path}: {len(inputs)} inputs and {len(graph.output)} outputs; an image classifier "
                              "has one of each")
    dims = [d.dim_value if d.HasField("dim_value") else -1 for d in inputs[0].type.tensor_type.shape.dim]
    size = _square_size(dims, f"{path} input '{inputs[0].name}'")
    out_dims = [d.dim_value for d in graph.output[0].type.tensor_type.shape.dim]
    producer = next((n for n in graph.node if graph.output[0].name in n.output), None)
    providers = ["CPUExecutionProvider"]
    if device.startswith("cuda"):
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise UsageError("--device cuda: this ONNX Runtime has no CUDA provider (pip install onnxruntime-gpu)")
        providers.insert(0, "CUDAExecutionProvider")
    session = ort.InferenceSession(str(path), providers=providers)
    in_name = inputs[0].name
    static_batch = dims[0] if dims[0] > 0 else None

    def run(x: Any) -> Any:
        try:
            return _run(x)
        except Exception as e:  # ONNX Runtime's own error types
            raise RuntimeError(str(e)) from None

    def _run(x: Any) -> Any:
        arr = x.detach().cpu().numpy()
        if static_batch is not None and arr.shape[0] != static_batch:  # a fixed batch: run one slice at a time
            outs = [session.run(None, {in_name: arr[i:i + static_batch]})[0]
                    for i in range(0, arr.shape[0], static_batch)]
            return torch.from_numpy(np.concatenate(outs)).to(x.device)
        return torch.from_numpy(session.run(None, {in_name: arr})[0]).to(x.device)

    order = meta.get("input_channel_order", "BGR")
    mean = tuple(float(m) for m in meta["input_mean"].split(",")) if "input_mean" in meta else BGR_MEAN
    classes = int(np.prod([d for d in out_dims[1:] if d > 0])) if len(out_dims) > 1 else 0
    return Classifier(kind="onnx", prep=_caffe_prep(order, mean, size), num_classes=classes, run=run, device=device,
                      outputs_probabilities=producer is not None and producer.op_type == "Softmax",
                      official_order=meta.get("class_order", "official") == "official",
                      info={**meta, "net": graph.name})


def read_timm_config(folder: Path) -> dict[str, Any]:
    try:
        cfg = json.loads((folder / TIMM_CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise CaffemodelError(f"{folder / TIMM_CONFIG}: not a readable timm config ({e})") from None
    if not isinstance(cfg, dict) or "architecture" not in cfg or not isinstance(cfg.get("pretrained_cfg"), dict):
        raise CaffemodelError(f"{folder / TIMM_CONFIG}: no 'architecture' and 'pretrained_cfg' (not a timm folder)")
    return cfg


def _load_timm(folder: Path, device: str) -> Classifier:
    timm = import_optional("timm", what="a timm folder")
    cfg = read_timm_config(folder)
    pcfg = cfg["pretrained_cfg"]
    try:
        model: Any = timm.create_model(f"local-dir:{folder}", pretrained=True).eval().to(device)
    except (RuntimeError, OSError, ValueError, KeyError) as e:
        raise CaffemodelError(f"{folder}: timm cannot load it ({str(e).splitlines()[0]})") from None
    size = int(pcfg.get("input_size", (3, 224, 224))[-1])
    mean, std = pcfg.get("mean", (0.485, 0.456, 0.406)), pcfg.get("std", (0.229, 0.224, 0.225))
    m255 = tuple(float(np.float64(m) * 255.0) for m in mean)
    scale = tuple(float(1.0 / (np.float64(s) * 255.0)) for s in std)
    prep = Preprocess(size=size, resize=default_resize(size, float(pcfg.get("crop_pct", 0.875))),
                      interpolation=str(pcfg.get("interpolation", "bilinear")), channel_order="RGB",
                      mean255=(m255[0], m255[1], m255[2]), scale=(scale[0], scale[1], scale[2]))
    ours = cfg.get("senet_proto", {})
    return Classifier(kind="timm", prep=prep, num_classes=int(model.num_classes), run=model, device=device,
                      official_order=ours.get("class_order") == "official",
                      info={"architecture": cfg["architecture"], **{k: str(v) for k, v in ours.items()}})


def load_classifier(model: str | os.PathLike[str], caffemodel: str | os.PathLike[str] | None = None,
                    device: str = "cpu") -> Classifier:
    """Load MODEL (and CAFFEMODEL for a prototxt) as a ``Classifier`` on ``device``."""
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise UsageError(f"--device {device}: no CUDA device is available")
    if caffemodel is not None:
        if not Path(caffemodel).is_file():
            raise CaffemodelError(f"{caffemodel}: no such caffemodel")
        return _load_pair(str(model), str(caffemodel), device)
    p = Path(model)
    if p.is_dir():
        if not (p / TIMM_CONFIG).is_file():
            raise CaffemodelError(f"{p}: a folder without {TIMM_CONFIG} (not a timm folder)")
        return _load_timm(p, device)
    if not p.is_file():
        raise CaffemodelError(f"{p}: no such model file or folder")
    suffix = p.suffix.lower()
    if suffix == ".onnx":
        return _load_onnx(p, device)
    if suffix == ".safetensors":
        return _load_pytorch(p, device)
    if suffix == ".prototxt":
        raise UsageError(f"{p}: a prototxt needs its caffemodel (MODEL CAFFEMODEL)")
    raise UsageError(f"{p}: unknown model kind (a .prototxt with its .caffemodel, a .safetensors or .onnx file, "
                     "or a timm folder)")


def with_sizes(clf: Classifier, size: int | None, resize: int | None) -> Classifier:
    """The classifier with another crop size / resize (``--size``, ``--resize``)."""
    if size is None and resize is None:
        return clf
    return replace(clf, prep=clf.prep.with_sizes(size, resize))

"""Caffe SENet weights -> a state dict for timm's legacy SENets (``--to timm``).

timm's ``legacy_seresnet50/101/152``, ``legacy_seresnext50_32x4d``, ``legacy_seresnext101_32x4d`` and
``legacy_senet154`` (the keys of Cadene's pretrainedmodels) compute what the Caffe release computes: max
pool with ceil mode, stride on the 1x1 (SE-ResNet) or the 3x3 (SE-ResNeXt, SENet-154), BatchNorm eps 1e-5.
The mapping is explicit and strict: every Caffe blob goes to one timm key, every shape is checked against
timm's own state dict when timm is installed, and nothing may be left over on either side.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..caffe import caffe_pb2
from ..caffe.layers.norm import bn_statistics
from ..errors import CaffemodelError, UsageError
from ..fsutil import atomic_open
from ..optional import import_optional, require
from .conventions import ConvertOptions, metadata
from .loader import CaffeNet

TIMM_MODELS = (
    "legacy_seresnet50",
    "legacy_seresnet101",
    "legacy_seresnet152",
    "legacy_seresnext50_32x4d",
    "legacy_seresnext101_32x4d",
    "legacy_senet154",
)
# (blocks per stage, grouped 3x3, 3-conv stem) -> timm name
_BY_STRUCTURE: dict[tuple[tuple[int, ...], bool, bool], str] = {
    ((3, 4, 6, 3), False, False): "legacy_seresnet50",
    ((3, 4, 23, 3), False, False): "legacy_seresnet101",
    ((3, 8, 36, 3), False, False): "legacy_seresnet152",
    ((3, 4, 6, 3), True, False): "legacy_seresnext50_32x4d",
    ((3, 4, 23, 3), True, False): "legacy_seresnext101_32x4d",
    ((3, 8, 36, 3), True, True): "legacy_senet154",
}
# the release's architecture id of each timm model (the generator's templates)
TIMM_ARCHS = {
    "legacy_seresnet50": "se-resnet-50",
    "legacy_seresnet101": "se-resnet-101",
    "legacy_seresnet152": "se-resnet-152",
    "legacy_seresnext50_32x4d": "se-resnext-50",
    "legacy_seresnext101_32x4d": "se-resnext-101",
    "legacy_senet154": "senet-154",
}
_BLOCK = re.compile(r"^conv([2-5])_(\d+)_(1x1_reduce|3x3|1x1_increase|1x1_down|1x1_up|fc_down|fc_up|1x1_proj)$")
_CONV_SLOT = {"1x1_reduce": "1", "3x3": "2", "1x1_increase": "3"}
_SE_SLOT = {"1x1_down": "fc1", "fc_down": "fc1", "1x1_up": "fc2", "fc_up": "fc2"}  # --squeeze conv | fc
_STEM = {"conv1/7x7_s2": "1", "conv1_1/3x3_s2": "1", "conv1_2/3x3": "2", "conv1_3/3x3": "3"}


@dataclass(frozen=True)
class TimmSlot:
    """Where a Caffe Convolution/InnerProduct's weights live in timm: ``module``.weight (and .bias), and the
    timm BatchNorm ``bn`` that its ``NAME/bn`` + ``NAME/bn/scale`` pair becomes (None: no BatchNorm)."""

    module: str
    bias: bool
    bn: str | None


@dataclass(frozen=True)
class TimmLayout:
    """How a timm model names its modules: the stem's (Caffe name -> conv, bn), the classifier, the SE module in a
    block, and the index of the projection convolution in ``downsample`` (1 after an average pool)."""

    stem: Mapping[str, tuple[str, str]]
    classifier: str
    se: str
    proj: int = 0


LEGACY_LAYOUT = TimmLayout({name: (f"layer0.conv{i}", f"layer0.bn{i}") for name, i in _STEM.items()},
                           "last_linear", "se_module")
# timm's ResNets (seresnet50, seresnext26d_32x4d, ...): conv1/bn1, or a deep stem conv1 = Sequential(conv, bn, act,
# conv, bn, act, conv) then bn1; blocks' SE module ``se``; classifier ``fc``
_RESNET_STEM = {"conv1/7x7_s2": ("conv1", "bn1"), "conv1_1/3x3_s2": ("conv1.0", "conv1.1"),
                "conv1_2/3x3": ("conv1.3", "conv1.4"), "conv1_3/3x3": ("conv1.6", "bn1")}


def resnet_layout(avg_down: bool) -> TimmLayout:
    return TimmLayout(_RESNET_STEM, "fc", "se", 1 if avg_down else 0)


def timm_slot(name: str, layout: TimmLayout = LEGACY_LAYOUT) -> TimmSlot | None:
    """The timm slot of a release layer name (None: the layer has no counterpart in the timm model; by default
    timm's legacy SENets). The one place of the Caffe <-> timm mapping; ``--to timm`` and ``export`` read it in
    opposite directions."""
    if name in layout.stem:
        conv, bn = layout.stem[name]
        return TimmSlot(conv, False, bn)
    if name == "classifier":
        return TimmSlot(layout.classifier, True, None)
    m = _BLOCK.match(name)
    if m is None:
        return None
    base = f"layer{int(m.group(1)) - 1}.{int(m.group(2)) - 1}"
    kind = m.group(3)
    if kind in _CONV_SLOT:
        return TimmSlot(f"{base}.conv{_CONV_SLOT[kind]}", False, f"{base}.bn{_CONV_SLOT[kind]}")
    if kind == "1x1_proj":
        return TimmSlot(f"{base}.downsample.{layout.proj}", False, f"{base}.downsample.{layout.proj + 1}")
    return TimmSlot(f"{base}.{layout.se}.{_SE_SLOT[kind]}", True, None)


def infer_timm_model(caffenet: CaffeNet) -> str:
    """The timm legacy model whose structure the Caffe net has."""
    blocks: dict[int, int] = {}
    grouped = False
    for layer in caffenet.layers():
        m = _BLOCK.match(layer.name)
        if m:
            stage, block = int(m.group(1)), int(m.group(2))
            blocks[stage] = max(blocks.get(stage, 0), block)
            grouped |= m.group(3) == "3x3" and layer.convolution_param.group > 1
    stem3 = "conv1_3/3x3" in caffenet.weights
    key = (tuple(blocks.get(s, 0) for s in range(2, 6)), grouped, stem3)
    name = _BY_STRUCTURE.get(key)
    if name is None:
        raise UsageError(f"--to timm: the net (blocks {key[0]}, grouped={grouped}) is none of timm's legacy SENets "
                         f"({', '.join(TIMM_MODELS)}); convert it --to pytorch instead")
    return name


def _bn(prefix: str, caffenet: CaffeNet, conv: str, out: dict[str, np.ndarray]) -> None:
    bn, scale = f"{conv}/bn", f"{conv}/bn/scale"
    if bn not in caffenet.weights or scale not in caffenet.weights:
        raise CaffemodelError(f"--to timm: '{conv}' has no BatchNorm + Scale pair ({bn}, {scale})")
    out[f"{prefix}.running_mean"], out[f"{prefix}.running_var"] = bn_statistics(*caffenet.weights[bn])
    out[f"{prefix}.num_batches_tracked"] = np.zeros((), dtype=np.int64)
    gamma, beta = caffenet.weights[scale]
    out[f"{prefix}.weight"] = gamma.astype(np.float32)
    out[f"{prefix}.bias"] = beta.astype(np.float32)


def to_timm_state_dict(caffenet: CaffeNet) -> dict[str, np.ndarray]:
    """Map every learnable blob of an official-style SENet to timm's legacy key names."""
    sd: dict[str, np.ndarray] = {}
    used: set[str] = set()
    for layer in caffenet.layers():
        name = layer.name
        if name not in caffenet.weights or (layer.type != "Convolution" and layer.type != "InnerProduct"):
            continue
        blobs = caffenet.weights[name]
        slot = timm_slot(name)
        if slot is None:
            raise CaffemodelError(f"--to timm: layer '{name}' has no counterpart in timm's legacy SENets")
        w = blobs[0]
        if slot.module.endswith(("fc1", "fc2")) and w.ndim == 2:  # --squeeze fc: timm's SE uses 1x1 convs
            w = w.reshape(*w.shape, 1, 1)
        sd[f"{slot.module}.weight"] = w
        if slot.bias:
            sd[f"{slot.module}.bias"] = blobs[1]
        if slot.bn:
            _bn(slot.bn, caffenet, name, sd)
        used.update({name, f"{name}/bn", f"{name}/bn/scale"})
    left = sorted(set(caffenet.weights) - used)
    if left:
        raise CaffemodelError(f"--to timm: {len(left)} layer(s) with weights have no timm key: {', '.join(left[:5])}")
    return {k: v if v.ndim == 0 else np.ascontiguousarray(v) for k, v in sd.items()}


def caffe_blobs_from_timm(net: caffe_pb2.NetParameter, tensor: Callable[[str], np.ndarray],
                          slot_of: Callable[[str], TimmSlot | None] = timm_slot
                          ) -> Iterator[tuple[str, str, list[np.ndarray]]]:
    """(layer name, type, blobs) of each layer with weights of a net with the release's layer names, read one
    tensor at a time from a timm state dict (``tensor(key)``; a legacy SENet's unless ``slot_of`` says otherwise):
    ``to_timm_state_dict`` backwards. BatchNorm gets factor 1 (its mean and variance as they are). Raises naming a
    layer with no timm slot."""
    names = {ly.name for ly in net.layer}
    for layer in net.layer:
        if layer.type not in ("Convolution", "InnerProduct"):
            continue
        slot = slot_of(layer.name)
        if slot is None:
            raise CaffemodelError(f"layer '{layer.name}' ({layer.type}) has no counterpart in the timm model")
        w = tensor(f"{slot.module}.weight")
        if layer.type == "InnerProduct":
            w = w.reshape(w.shape[0], -1)
        yield layer.name, layer.type, [w, tensor(f"{slot.module}.bias")] if slot.bias else [w]
        if slot.bn:
            bn, scale = f"{layer.name}/bn", f"{layer.name}/bn/scale"
            if bn not in names or scale not in names:
                raise CaffemodelError(f"'{layer.name}' has no BatchNorm + Scale pair ({bn}, {scale})")
            yield bn, "BatchNorm", [tensor(f"{slot.bn}.running_mean"), tensor(f"{slot.bn}.running_var"),
                                    np.ones(1, np.float32)]
            yield scale, "Scale", [tensor(f"{slot.bn}.weight"), tensor(f"{slot.bn}.bias")]


def check_against_timm(shapes: Mapping[str, tuple[int, ...]], model_name: str, num_classes: int,
                       what: str = "--to timm") -> None:
    """Compare a state dict's keys and shapes (``key -> shape``) with timm's own state dict (timm builds the
    model on PyTorch's meta device; no weights are fetched or made). ``what`` starts the messages."""
    timm = import_optional("timm", what=f"{what} (to check the mapping)")
    import torch

    with torch.device("meta"):  # shapes only: no memory for the weights, no time initialising them
        expected = timm.create_model(model_name, pretrained=False, num_classes=num_classes).state_dict()
    missing = sorted(set(expected) - set(shapes))
    extra = sorted(set(shapes) - set(expected))
    if missing or extra:
        raise CaffemodelError(f"{what}: keys differ from {model_name}: missing {len(missing)} {missing[:5]}, "
                              f"unexpected {len(extra)} {extra[:5]}")
    for key, tensor in expected.items():
        if tuple(tensor.shape) != tuple(shapes[key]):
            raise CaffemodelError(f"{what}: {key} has shape {tuple(shapes[key])}, "
                                  f"{model_name} expects {tuple(tensor.shape)}")


def export_timm(caffenet: CaffeNet, out: str | os.PathLike[str], options: ConvertOptions, force: bool = False,
                model_name: str | None = None) -> Path:
    """Write the timm state dict as safetensors (numpy; no pickle), with the conventions as metadata."""
    require("safetensors", "timm", what="--to timm")
    from safetensors.numpy import save

    if options.fuse_bn:
        raise UsageError("--fuse-bn does not apply to --to timm (timm's modules keep their BatchNorm layers)")
    name = model_name or options.timm_model or infer_timm_model(caffenet)
    if name not in TIMM_MODELS:
        raise UsageError(f"--timm-model must be one of {', '.join(TIMM_MODELS)}, got {name!r}")
    sd = to_timm_state_dict(caffenet)
    num_classes = int(sd["last_linear.weight"].shape[0])
    check_against_timm({k: v.shape for k, v in sd.items()}, name, num_classes)
    meta = metadata(options, Path(caffenet.source).name if caffenet.source else "")
    meta.update({"senet_proto.format": "timm-state-dict", "timm_model": name, "num_classes": str(num_classes)})
    data = save(sd, metadata=meta)
    with atomic_open(out, "wb", force=force) as f:
        f.write(data)
    return Path(out)

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
from pathlib import Path

import numpy as np

from ..caffe.layers.norm import bn_statistics
from ..errors import CaffemodelError, UsageError
from ..fsutil import atomic_open
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
_BLOCK = re.compile(r"^conv([2-5])_(\d+)_(1x1_reduce|3x3|1x1_increase|1x1_down|1x1_up|1x1_proj)$")
_CONV_SLOT = {"1x1_reduce": "1", "3x3": "2", "1x1_increase": "3"}
_STEM = {"conv1/7x7_s2": "1", "conv1_1/3x3_s2": "1", "conv1_2/3x3": "2", "conv1_3/3x3": "3"}


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
        if name in _STEM:
            i = _STEM[name]
            sd[f"layer0.conv{i}.weight"] = blobs[0]
            _bn(f"layer0.bn{i}", caffenet, name, sd)
        elif name == "classifier":
            sd["last_linear.weight"], sd["last_linear.bias"] = blobs[0], blobs[1]
        else:
            m = _BLOCK.match(name)
            if m is None:
                raise CaffemodelError(f"--to timm: layer '{name}' has no counterpart in timm's legacy SENets")
            base = f"layer{int(m.group(1)) - 1}.{int(m.group(2)) - 1}"
            kind = m.group(3)
            if kind in _CONV_SLOT:
                sd[f"{base}.conv{_CONV_SLOT[kind]}.weight"] = blobs[0]
                _bn(f"{base}.bn{_CONV_SLOT[kind]}", caffenet, name, sd)
            elif kind == "1x1_proj":
                sd[f"{base}.downsample.0.weight"] = blobs[0]
                _bn(f"{base}.downsample.1", caffenet, name, sd)
            else:
                fc = "fc1" if kind == "1x1_down" else "fc2"
                sd[f"{base}.se_module.{fc}.weight"], sd[f"{base}.se_module.{fc}.bias"] = blobs[0], blobs[1]
        used.update({name, f"{name}/bn", f"{name}/bn/scale"})
    left = sorted(set(caffenet.weights) - used)
    if left:
        raise CaffemodelError(f"--to timm: {len(left)} layer(s) with weights have no timm key: {', '.join(left[:5])}")
    return {k: v if v.ndim == 0 else np.ascontiguousarray(v) for k, v in sd.items()}


def check_against_timm(sd: dict[str, np.ndarray], model_name: str, num_classes: int) -> None:
    """Compare keys and shapes with timm's own state dict (timm builds the model; no weights are fetched)."""
    try:
        import timm
    except ImportError:
        raise UsageError("--to timm needs the 'timm' package to check the mapping (pip install 'senet-proto[timm]')") \
            from None
    expected = timm.create_model(model_name, pretrained=False, num_classes=num_classes).state_dict()
    missing = sorted(set(expected) - set(sd))
    extra = sorted(set(sd) - set(expected))
    if missing or extra:
        raise CaffemodelError(
            f"--to timm: keys differ from {model_name}: missing {missing[:5]}, unexpected {extra[:5]}")
    for key, tensor in expected.items():
        if tuple(tensor.shape) != tuple(sd[key].shape):
            raise CaffemodelError(f"--to timm: {key} has shape {tuple(sd[key].shape)}, "
                                  f"{model_name} expects {tuple(tensor.shape)}")


def export_timm(caffenet: CaffeNet, out: str | os.PathLike[str], options: ConvertOptions, force: bool = False,
                model_name: str | None = None) -> Path:
    """Write the timm state dict as safetensors (numpy; no pickle), with the conventions as metadata."""
    from safetensors.numpy import save

    if options.fuse_bn:
        raise UsageError("--fuse-bn does not apply to --to timm (timm's modules keep their BatchNorm layers)")
    name = model_name or options.timm_model or infer_timm_model(caffenet)
    if name not in TIMM_MODELS:
        raise UsageError(f"--timm-model must be one of {', '.join(TIMM_MODELS)}, got {name!r}")
    sd = to_timm_state_dict(caffenet)
    num_classes = int(sd["last_linear.weight"].shape[0])
    check_against_timm(sd, name, num_classes)
    meta = metadata(options, Path(caffenet.source).name if caffenet.source else "")
    meta.update({"senet_proto.format": "timm-state-dict", "timm_model": name, "num_classes": str(num_classes)})
    data = save(sd, metadata=meta)
    with atomic_open(out, "wb", force=force) as f:
        f.write(data)
    return Path(out)

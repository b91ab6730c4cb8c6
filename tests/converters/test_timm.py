"""`--to timm`: state dicts that timm's legacy SENets load strictly and that reproduce real Caffe."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from senet_proto.converters import load_caffe
from senet_proto.converters.timm import TIMM_MODELS, infer_timm_model, to_timm_state_dict
from senet_proto.errors import CaffemodelError, UsageError
from senet_proto.generator import GenerateOptions, generate

timm = pytest.importorskip("timm", reason="timm is part of the test extras (pip install '.[all,test]')")
torch = pytest.importorskip("torch")

ARCH_TO_TIMM = {
    "se-resnet-50": "legacy_seresnet50",
    "se-resnet-101": "legacy_seresnet101",
    "se-resnet-152": "legacy_seresnet152",
    "se-resnext-50": "legacy_seresnext50_32x4d",
    "se-resnext-101": "legacy_seresnext101_32x4d",
    "senet-154": "legacy_senet154",
}


def test_every_timm_model_is_covered() -> None:
    assert sorted(ARCH_TO_TIMM.values()) == sorted(TIMM_MODELS)


@pytest.mark.parametrize("arch", sorted(ARCH_TO_TIMM))
def test_timm_loads_strictly_and_matches_caffe(arch: str, reference, tmp_path: Path) -> None:
    net = generate(arch)
    weights = reference.cached_weights(net, seed=0)
    caffenet = load_caffe(net, weights)
    name = infer_timm_model(caffenet)
    assert name == ARCH_TO_TIMM[arch]
    from senet_proto.converters.conventions import ConvertOptions
    from senet_proto.converters.timm import export_timm

    out = export_timm(caffenet, tmp_path / "timm.safetensors", ConvertOptions())
    from safetensors.torch import load_file

    model = timm.create_model(name, pretrained=False).eval()
    model.load_state_dict(load_file(str(out)), strict=True)
    x = np.random.default_rng(1).normal(0.0, 50.0, size=(2, 3, 224, 224)).astype(np.float32)
    ref = reference.forward(net, weights, {"data": x})["classifier"]
    with torch.no_grad():
        ours = model(torch.from_numpy(x)).numpy()
    scale = float(np.abs(ref).max())
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-4 * scale)


def test_class_order_permutation_reaches_timm(reference, tmp_path: Path) -> None:
    from senet_proto.converters.conventions import ConvertOptions, apply_conventions, label_map

    net = generate("se-resnet-50")
    caffenet = load_caffe(net, reference.cached_weights(net, seed=0))
    official = to_timm_state_dict(caffenet)
    imagenet = to_timm_state_dict(apply_conventions(caffenet, ConvertOptions(class_order="imagenet")))
    perm = label_map()
    np.testing.assert_array_equal(imagenet["last_linear.weight"], official["last_linear.weight"][perm])
    np.testing.assert_array_equal(imagenet["last_linear.bias"], official["last_linear.bias"][perm])


def test_non_timm_nets_are_refused(reference) -> None:
    net = generate("se-bn-inception")
    caffenet = load_caffe(net, reference.cached_weights(net, seed=0))
    with pytest.raises(UsageError, match="none of timm's legacy SENets"):
        infer_timm_model(caffenet)
    net = generate("se-resnet-50", GenerateOptions(squeeze="fc", se_style="scale", input_shape=(1, 3, 64, 64)))
    caffenet = load_caffe(net, reference.cached_weights(net, seed=0))
    with pytest.raises(CaffemodelError, match="'conv2_1_fc_down' has no counterpart"):
        to_timm_state_dict(caffenet)

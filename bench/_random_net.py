"""A generated net with random weights from a seed, no Caffe needed (the benchmarks' and the GPU check's nets):
He-scaled convolutions and InnerProducts, Scale gammas in [0.7, 1.3], small biases, every BatchNorm calibrated
in network order on a random batch in float64, so activations stay of order one; the same bits on any machine.
Blob shapes are the catalogue's (what Caffe makes for each layer)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's senet_proto, installed or not

INPUT_STD = 50.0  # inputs and calibration: normal, std 50 (0-255 minus the mean), as `verify` draws them
SEED = 0


def make_net(arch: str, shape: tuple[int, int, int, int]):
    from senet_proto.generator import generate
    from senet_proto.generator.options import GenerateOptions

    return generate(arch, GenerateOptions(input_shape=shape))


def seeded_caffenet(arch: str, shape: tuple[int, int, int, int], seed: int = SEED):
    """The generated net with random weights (He-scaled convolutions and InnerProducts, Scale gammas in
    [0.7, 1.3], small biases), every BatchNorm calibrated in network order on a random batch in float64."""
    from senet_proto.analysis.shapes import infer_layers
    from senet_proto.caffe.layers import made_blobs
    from senet_proto.converters.loader import load_caffe

    net = make_net(arch, shape)
    caffenet = load_caffe(net, None)
    rng = np.random.default_rng(seed)
    for ls in infer_layers(net):
        shapes = made_blobs(ls.layer, list(ls.bottoms))
        if not shapes:
            continue
        if ls.type == "BatchNorm":
            blobs = [np.zeros(shapes[0], np.float32), np.ones(shapes[1], np.float32), np.ones(1, np.float32)]
        elif ls.type == "Scale":
            blobs = [rng.uniform(0.7, 1.3, shapes[0]).astype(np.float32)]
            blobs += [rng.normal(0, 0.1, s).astype(np.float32) for s in shapes[1:]]
        else:
            fan_in = int(np.prod(shapes[0][1:]))
            blobs = [(rng.standard_normal(shapes[0]) * np.sqrt(2.0 / fan_in)).astype(np.float32)]
            blobs += [rng.normal(0, 0.1, s).astype(np.float32) for s in shapes[1:]]
        caffenet.weights[ls.name] = blobs
    _calibrate(caffenet, shape, rng)
    return caffenet


def _calibrate(caffenet, shape: tuple[int, int, int, int], rng: np.random.Generator) -> None:
    """Set each BatchNorm's mean and variance to its input's batch statistics, in network order (float64, CPU)."""
    import torch

    from senet_proto.converters.pytorch import build_module

    module = build_module(caffenet).double()
    stats: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def hook(name: str) -> Callable[..., None]:
        def pre(mod: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> None:
            x = args[0]
            dims = [d for d in range(x.dim()) if d != 1]
            mean, var = x.mean(dim=dims), x.var(dim=dims, unbiased=False)
            mod.running_mean.copy_(mean)  # type: ignore[operator]
            mod.running_var.copy_(var)  # type: ignore[operator]
            stats[name] = mean.numpy(), var.numpy()
        return pre

    handles = [m.register_forward_pre_hook(hook(module.layer_names[key]))
               for key, m in module.named_children() if isinstance(m, torch.nn.BatchNorm2d)]
    x = rng.normal(0, INPUT_STD, (max(4, shape[0]), *shape[1:]))
    with torch.no_grad():
        module(torch.from_numpy(x))
    for h in handles:
        h.remove()
    for name, (mean, var) in stats.items():
        caffenet.weights[name] = [mean.astype(np.float32), var.astype(np.float32), np.ones(1, np.float32)]

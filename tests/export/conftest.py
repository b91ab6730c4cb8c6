"""Fixtures of the export tests: timm SENets with random, calibrated weights (the last model kept in memory)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

timm = pytest.importorskip("timm", reason="timm is part of the test extras (pip install '.[all,test]')")
torch = pytest.importorskip("torch")


def calibrated_model(name: str, seed: int = 0):
    """timm's model with random weights: BatchNorm affine parameters random, statistics from one train-mode
    forward of a random batch (momentum None: the batch's own statistics), so activations stay of order one."""
    torch.manual_seed(seed)
    model = timm.create_model(name, pretrained=False)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            torch.nn.init.uniform_(m.weight, 0.5, 1.5)
            torch.nn.init.uniform_(m.bias, -0.5, 0.5)
            m.reset_running_stats()
            m.momentum = None
    model.train()
    with torch.no_grad():
        model(torch.randn(4, 3, 97, 97))
    return model.eval()


@pytest.fixture(scope="session")
def timm_weights() -> Callable[[str, Path], tuple[object, Path]]:
    """(name, folder) -> (the calibrated timm model in eval mode, its state dict saved as safetensors in folder).
    The last model is kept in memory: tests of one model run one after another."""
    from safetensors.torch import save_file

    last: dict[str, object] = {}

    def get(name: str, folder: Path) -> tuple[object, Path]:
        if name not in last:
            last.clear()
            last[name] = calibrated_model(name)
        model = last[name]
        path = folder / f"{name}.safetensors"
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
        return model, path

    return get

"""layers.conv.Conv2d with ``prepack``: oneDNN on a weight reordered once, against ``F.conv2d``.

Shapes and parameters cover what SE nets use (1x1, 3x3 grouped, 7x7 stride 2) and more (dilation, uneven
stride and pad, no bias); batch sizes other than the one the weight was packed for; and every way the packed
weight must be dropped or bypassed (a weight loaded, changed in place, moved, converted; autograd; copies).
"""

from __future__ import annotations

import copy
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from bare_env import checkout_env

from senet_proto.converters.layers.conv import Conv2d, prepack_convolutions

pytestmark = pytest.mark.skipif(not torch.backends.mkldnn.is_available(),
                                reason="this torch build has no oneDNN (mkldnn): there is nothing to prepack")

# (in, out, kernel, stride, pad, dilation, groups, bias, spatial)
CASES = [
    (64, 256, 1, 1, 0, 1, 1, True, 14),
    (64, 64, 3, 1, 1, 1, 1, False, 15),
    (3, 64, 7, 2, 3, 1, 1, True, 33),
    (128, 128, 3, 2, 1, 1, 32, True, 16),
    (64, 64, 3, 1, 1, 1, 64, False, 9),
    (16, 24, (3, 5), (2, 1), (1, 2), 1, 1, True, 11),
    (16, 16, 3, 1, 2, 2, 4, True, 12),
    (32, 8, 1, 1, 0, 1, 1, True, 1),  # the SE excitation on a pooled 1x1 blob
]


def make(cin, cout, k, stride, pad, dil, groups, bias, seed=0) -> Conv2d:
    torch.manual_seed(seed)
    m = Conv2d(cin, cout, k, stride=stride, padding=pad, dilation=dil, groups=groups, bias=bias).eval()
    m.prepack = True
    return m


def plain(m: Conv2d, x: torch.Tensor) -> torch.Tensor:
    return F.conv2d(x, m.weight, m.bias, m.stride, m.padding, m.dilation, m.groups)


def assert_close(ours: torch.Tensor, ref: torch.Tensor) -> None:
    scale = float(ref.abs().max())
    np.testing.assert_allclose(ours.numpy(), ref.numpy(), rtol=0, atol=1e-5 * max(scale, 1.0))


@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c)))
@pytest.mark.parametrize("batches", [(1, 1), (1, 3), (4, 1)], ids=lambda b: f"packed-at-{b[0]}-then-{b[1]}")
def test_prepacked_matches_conv2d(case, batches: tuple[int, int]) -> None:
    *conv, spatial = case
    m = make(*conv)
    with torch.inference_mode():
        for n in batches:
            x = torch.randn(n, conv[0], spatial, spatial + 1)
            assert_close(m(x), plain(m, x))
    assert m._packed is not None, "the packed path was not taken"


def test_channels_last_input() -> None:
    m = make(16, 32, 3, 1, 1, 1, 1, True)
    x = torch.randn(2, 16, 10, 10).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        assert_close(m(x).contiguous(), plain(m, x).contiguous())


def test_weight_changes_are_seen() -> None:
    m = make(8, 8, 3, 1, 1, 1, 1, True)
    x = torch.randn(1, 8, 6, 6)
    with torch.no_grad():
        m(x)
        first = m._packed
        m.load_state_dict({"weight": torch.randn_like(m.weight), "bias": m.bias.clone()})  # copy_ into the parameter
        assert_close(m(x), plain(m, x))
        assert m._packed is not first
        m.weight.mul_(-2)  # in place through the parameter: its version changes
        assert_close(m(x), plain(m, x))
        m.weight = torch.nn.Parameter(torch.randn_like(m.weight))  # replaced
        assert_close(m(x), plain(m, x))
        m.double().float()  # .data swapped twice by nn.Module._apply
        assert_close(m(x), plain(m, x))


def test_weight_data_edits_need_a_new_pack() -> None:
    """The documented limit: ``weight.data`` edits bypass the version counter; re-enabling drops the pack."""
    m = make(4, 4, 1, 1, 0, 1, 1, False)
    x = torch.randn(1, 4, 3, 3)
    with torch.no_grad():
        m(x)
        m.weight.data.mul_(3)
        stale = m(x)
        assert not torch.allclose(stale, plain(m, x)), "the pack now follows .data edits: update the docstring"
        assert prepack_convolutions(torch.nn.Sequential(m)) == 1  # what optimize_for_inference() calls
        assert_close(m(x), plain(m, x))


@pytest.mark.filterwarnings("ignore:TF32 acceleration on top of oneDNN")  # mkldnn.flags() restoring its defaults
def test_autograd_float64_and_disabled_mkldnn_take_the_plain_path() -> None:
    m = make(8, 8, 3, 1, 1, 1, 1, True)
    x = torch.randn(1, 8, 6, 6)
    out = m(x)  # grad enabled, weight requires grad
    assert out.grad_fn is not None and m._packed is None
    out.sum().backward()
    assert m.weight.grad is not None
    with torch.no_grad():
        m64 = copy.deepcopy(m).double()
        m64(x.double())
        assert m64._packed is None
        with torch.backends.mkldnn.flags(enabled=False):
            m(x)
        assert m._packed is None
        m.prepack = False
        m(x)
        assert m._packed is None


def test_copies_and_pickles_leave_the_pack_out() -> None:
    m = make(8, 8, 3, 1, 1, 1, 1, True)
    x = torch.randn(1, 8, 6, 6)
    with torch.no_grad():
        m(x)
        assert m._packed is not None
        for other in (copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
            assert other._packed is None and other.prepack
            assert_close(other(x), plain(m, x))
        assert set(m.state_dict()) == {"weight", "bias"}


def test_weights_made_under_inference_mode() -> None:
    """Inference tensors have no version counter: the pack follows their replacement, not in-place edits."""
    with torch.inference_mode():
        m = make(8, 8, 3, 1, 1, 1, 1, True)
        x = torch.randn(2, 8, 6, 6)
        assert m.weight.is_inference()
        assert_close(m(x), plain(m, x))
        m.weight = torch.nn.Parameter(torch.randn_like(m.weight))
        assert_close(m(x), plain(m, x))
        m.weight.mul_(2)
        assert not torch.allclose(m(x), plain(m, x)), "in-place edits are now seen: update the docstring"
        prepack_convolutions(m)
        assert_close(m(x), plain(m, x))


COMPILE = """
import torch
from senet_proto.converters.layers.conv import Conv2d
torch.manual_seed(0)
m = torch.nn.Sequential(Conv2d(4, 8, 3, padding=1), torch.nn.ReLU()).eval()
m[0].prepack = True
x = torch.randn(2, 4, 9, 9)
with torch.no_grad():
    ref = m(x)
    assert m[0]._packed is not None
    out = torch.compile(m, backend="eager")(x)
print(float((out - ref).abs().max()), float(ref.abs().max()))
"""


@pytest.mark.filterwarnings("ignore:`torch.jit.trace:FutureWarning", "ignore::torch.jit.TracerWarning")
def test_tracing_and_exporting_record_the_plain_convolution() -> None:
    """Graphs made from the module hold the ordinary convolution, never the packed (opaque) weight."""
    m = torch.nn.Sequential(make(4, 8, 3, 1, 1, 1, 1, True), torch.nn.ReLU()).eval()
    x = torch.randn(2, 4, 9, 9)
    with torch.no_grad():
        ref = m(x)
        assert m[0]._packed is not None
        traced = torch.jit.trace(m, x)
        assert "mkldnn" not in str(traced.graph)
        assert_close(traced(x), ref)
    exported = torch.export.export(m, (x,))
    assert "mkldnn" not in str(exported.graph)
    with torch.no_grad():
        assert_close(exported.module()(x), ref)


def test_torch_compile_runs_the_module() -> None:
    """In a subprocess: torch.compile patches nn.Module for good (test_torch_layout checks its attributes)."""
    proc = subprocess.run([sys.executable, "-c", COMPILE], capture_output=True, text=True, timeout=600,
                          env=checkout_env())
    assert proc.returncode == 0, proc.stderr[-2000:]
    diff, scale = map(float, proc.stdout.split())
    assert diff <= 1e-5 * max(scale, 1.0), f"compiled module differs by {diff:.3g} (outputs up to {scale:.3g})"

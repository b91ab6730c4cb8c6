"""Lazily folded BatchNorm (converters/lazy.py, ``fold_batchnorm(lazy=True)``): ``convert --fuse-bn`` computes
each folded weight only when the writer reaches it, a block of rows at a time, and the files it writes are
byte for byte those of the eager path (every folded weight computed up front, as before)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from conv_cases import Case, combine, layer, rand, write_model
from test_layers import CASES

from senet_proto.converters import lazy, load_caffe, pytorch_io
from senet_proto.converters import onnx as onnx_target
from senet_proto.converters.conventions import ConvertOptions
from senet_proto.converters.graph import build_graph, fold_batchnorm, folded_weight, merge_batchnorm_scale
from senet_proto.converters.lazy import LazyArray, LazyBlobs, blob_tensor, write_lazy
from senet_proto.converters.onnx import data_path
from senet_proto.converters.pytorch import build_module
from senet_proto.converters.pytorch_io import load_pytorch
from senet_proto.converters.targets import convert
from senet_proto.converters.torch_layout import module_graph, state_arrays


def old_fold(w: np.ndarray, s: np.ndarray) -> np.ndarray:
    """The folded weight as ``_fold_batchnorm_pair`` computed it before it became lazy."""
    return (w.astype(np.float64) * s.reshape((-1,) + (1,) * (w.ndim - 1))).astype(np.float32)


def fold_cases() -> list[Case]:
    """Every convolution case of test_layers (groups, depthwise, dilation, per-axis kernels, no bias) followed
    by a global-statistics BatchNorm, every other one with its Scale (with and without a bias)."""
    rng = np.random.default_rng(7)
    cases = []
    for i, conv in enumerate(CASES["Convolution"]):
        (ly,) = conv.layers
        c = conv.weights["conv"][0].shape[0]
        factor = 0.0 if i == 1 else 1.0 + i  # 0: Caffe reads the statistics as zero
        layers = [ly, layer("BatchNorm", "bn", ["y"], ["y"], batch_norm_param={"use_global_stats": True,
                                                                                "eps": 1e-3 * (i + 1)})]
        weights = {**conv.weights, "bn": [rand(rng, c), np.abs(rand(rng, c)) + 0.1, np.array([factor], np.float32)]}
        if i % 2 == 0:
            bias = i % 4 == 0
            layers.append(layer("Scale", "scale", ["y"], ["y"], scale_param={"bias_term": bias}))
            weights["scale"] = [rand(rng, c), *([rand(rng, c)] if bias else [])]
        cases.append(Case(conv.id, conv.inputs, layers, weights))
    return cases


@pytest.fixture
def fold_net(tmp_path: Path):
    """The fold cases as one net with its weights read from a caffemodel file (memory-mapped views)."""
    net, model = combine(fold_cases(), "fold")
    return load_caffe(net, write_model(model, tmp_path / "fold.caffemodel"))


def folded_graph(caffenet, lazy: bool):
    g = build_graph(caffenet)
    merge_batchnorm_scale(g)
    fold_batchnorm(g, lazy=lazy)
    return g


@pytest.fixture
def small_blocks(request, monkeypatch):
    """Run with lazy.BLOCK_BYTES as the test's parameter (None: the default)."""
    if request.param is not None:
        monkeypatch.setattr(lazy, "BLOCK_BYTES", request.param)
    return request.param


BLOCKS = pytest.mark.parametrize("small_blocks", [None, 1, 100], indirect=True, ids=["default", "1B", "100B"])


# -- the arithmetic ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(8, 4, 3, 3), (6, 1, 3, 3), (5, 3, 7), (4, 2, 2, 2, 2), (3,), (1, 1, 1, 1),
                                   (0, 3, 1, 1)])
def test_folded_weight_is_the_old_float64_product(shape: tuple[int, ...]) -> None:
    """Bit for bit the old expression, whole and for any rows, on values from subnormal to near overflow."""
    rng = np.random.default_rng(len(shape))
    w = rand(rng, *shape)
    if w.size:
        w.reshape(-1)[: min(w.size, 4)] = [1e-42, -3e38, 3.4e38, np.float32(1) / 3][: min(w.size, 4)]
    s = np.exp(rng.normal(0, 3, shape[0]))  # float64, as _fold_batchnorm_pair makes it
    with np.errstate(over="ignore"):  # -3e38 and 3.4e38 times s > 1 overflow to infinity in both
        expected = old_fold(w, s)
        got = folded_weight(w, s)
        assert got.dtype == np.float32 and got.shape == w.shape
        np.testing.assert_array_equal(got.view(np.uint32), expected.view(np.uint32))
        for i, j in ((0, 1), (1, shape[0]), (shape[0] // 2, None)):
            np.testing.assert_array_equal(folded_weight(w, s, i, j).view(np.uint32), expected[i:j].view(np.uint32))


# -- LazyArray, LazyBlobs, write_lazy -----------------------------------------------------------------------------


def lazy_of(w: np.ndarray, s: np.ndarray) -> LazyArray:
    return LazyArray(w.shape, np.dtype(np.float32), lambda i, j: folded_weight(w, s, i, j), (w,))


@pytest.mark.parametrize("max_bytes", [1, 4 * 12, 4 * 12 * 3 + 1, 4 * 12 * 7, 1 << 30])
def test_blocks_cover_the_rows_in_order(max_bytes: int) -> None:
    rng = np.random.default_rng(1)
    w, s = rand(rng, 7, 3, 2, 2), rng.normal(size=7)
    arr = lazy_of(w, s)
    assert (arr.ndim, arr.size, arr.nbytes) == (4, w.size, w.nbytes)
    blocks = list(arr.blocks(max_bytes))
    assert [b[0] for b in blocks] == [0, *[b[1] for b in blocks[:-1]]] and blocks[-1][1] == 7
    assert all(b[2].nbytes <= max(max_bytes, 4 * 12) for b in blocks)
    np.testing.assert_array_equal(np.concatenate([b[2] for b in blocks]), old_fold(w, s))
    f = io.BytesIO()
    write_lazy(f, arr, max_bytes)
    assert f.getvalue() == old_fold(w, s).astype("<f4").tobytes()


def test_lazy_array_refuses_what_it_cannot_stream() -> None:
    with pytest.raises(ValueError, match="at least one dimension"):
        LazyArray((), np.dtype(np.float32), lambda i, j: np.zeros(()))
    with pytest.raises(ValueError, match="first axis"):
        LazyArray((3, 2), np.dtype(np.float32), lambda i, j: np.zeros((j - i, 2), np.float32), (np.zeros(4),))
    wrong = LazyArray((3, 2), np.dtype(np.float32), lambda i, j: np.zeros((j - i, 2), np.float64))
    with pytest.raises(AssertionError, match="computed float64"):
        wrong.value()


def test_lazy_blobs_read_as_arrays() -> None:
    """Every user that indexes or iterates a node's blobs gets arrays; only blob_tensor hands out the lazy one."""
    rng = np.random.default_rng(2)
    w, s, b = rand(rng, 4, 2, 3, 3), rng.normal(size=4), rand(rng, 4)
    arr = lazy_of(w, s)
    blobs = LazyBlobs([arr, b])
    assert len(blobs) == 2 and bool(blobs)
    np.testing.assert_array_equal(blobs[0], old_fold(w, s))
    assert blobs[1] is b and blobs[-1] is b
    assert [x.shape for x in blobs] == [w.shape, b.shape] and isinstance(next(iter(blobs)), np.ndarray)
    assert len(blobs[1:]) == 1 and blobs[1:][0] is b
    assert blobs.tensor(0) is arr and blob_tensor(blobs, 0) is arr and blob_tensor([w, b], 0) is w


# -- the folded graph ----------------------------------------------------------------------------------------------


def test_lazy_fold_gives_the_eager_graph(fold_net) -> None:
    eager, lazy_g = folded_graph(fold_net, lazy=False), folded_graph(fold_net, lazy=True)
    assert [(n.name, n.type, n.covers, n.tops) for n in lazy_g.nodes] == \
        [(n.name, n.type, n.covers, n.tops) for n in eager.nodes]
    assert not any(n.type == "BatchNorm" for n in lazy_g.nodes)  # every case folded
    convs = [n for n in lazy_g.nodes if n.type == "Convolution"]
    assert len(convs) == len(CASES["Convolution"])
    for e, n in zip(eager.nodes, lazy_g.nodes, strict=True):
        if n.type == "Convolution":
            assert isinstance(n.blobs, LazyBlobs) and isinstance(blob_tensor(n.blobs, 0), LazyArray)
            assert not isinstance(e.blobs, LazyBlobs)
            assert len(n.blobs) == len(e.blobs) == 2
        for a, b in zip(n.blobs, e.blobs, strict=True):
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_array_equal(a.view(np.uint32), b.view(np.uint32), err_msg=n.name)


def test_lazy_state_arrays_equal_the_fused_module(fold_net) -> None:
    """The lazy state dict computes to the eager one and to the state of the module built with --fuse-bn."""
    lazy_state = state_arrays(module_graph(fold_net, fuse_bn=True, lazy=True))
    eager_state = state_arrays(module_graph(fold_net, fuse_bn=True))
    module_state = build_module(fold_net, fuse_bn=True).state_dict()
    assert sorted(lazy_state) == sorted(eager_state) == sorted(module_state)
    assert sum(isinstance(v, LazyArray) for v in lazy_state.values()) == len(CASES["Convolution"])
    assert not any(isinstance(v, LazyArray) for v in eager_state.values())
    for key, value in lazy_state.items():
        got = lazy.materialize(value)
        np.testing.assert_array_equal(got, eager_state[key], err_msg=key)
        np.testing.assert_array_equal(got, module_state[key].numpy(), err_msg=key)


# -- the written files ----------------------------------------------------------------------------------------------


def eager_exports(monkeypatch) -> None:
    """Make the exporters fold eagerly (the path before lazy folding) for the rest of the test."""
    graph, parts = pytorch_io.module_graph, onnx_target.build_parts
    monkeypatch.setattr(pytorch_io, "module_graph", lambda *a, **kw: graph(*a, **{**kw, "lazy": False}))
    monkeypatch.setattr(onnx_target, "build_parts", lambda *a, **kw: parts(*a, **{**kw, "lazy": False}))


def files_of(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (out, data_path(out)) if p.exists()}


@BLOCKS
@pytest.mark.parametrize(("target", "options"), [
    ("pytorch", ConvertOptions(fuse_bn=True)),
    ("onnx", ConvertOptions(fuse_bn=True)),
    ("onnx", ConvertOptions(fuse_bn=True, external_data=True)),
], ids=["pytorch", "onnx", "onnx-external"])
def test_lazy_export_writes_the_eager_files(fold_net, tmp_path: Path, monkeypatch, small_blocks, target: str,
                                            options: ConvertOptions) -> None:
    exporter = pytorch_io.export_pytorch if target == "pytorch" else onnx_target.export_onnx
    lazy_out, eager_out = tmp_path / "lazy" / "m.out", tmp_path / "eager" / "m.out"
    for p in (lazy_out, eager_out):
        p.parent.mkdir()
    calls: list[int] = []
    rows = lazy.LazyArray.blocks

    def counted(self, max_bytes=None):
        calls.append(1)
        return rows(self, max_bytes)

    monkeypatch.setattr(lazy.LazyArray, "blocks", counted)
    exporter(fold_net, lazy_out, options)
    streamed = len(calls)  # folded weights written block by block (in ONNX's external data: those >= 1 KiB)
    assert streamed >= (1 if options.external_data else len(CASES["Convolution"]))
    eager_exports(monkeypatch)
    exporter(fold_net, eager_out, options)
    assert len(calls) == streamed  # the eager reference computed every folded weight up front
    lazy_files, eager_files = files_of(lazy_out), files_of(eager_out)
    assert sorted(lazy_files) == sorted(eager_files) == (["m.out", "m.out.data"] if options.external_data else
                                                           ["m.out"])
    for name, data in lazy_files.items():
        assert data == eager_files[name], name
    if target == "pytorch":  # and the file loads to the module built in memory
        loaded, built = load_pytorch(lazy_out).state_dict(), build_module(fold_net, fuse_bn=True).state_dict()
        assert sorted(loaded) == sorted(built)
        for key, value in built.items():
            assert torch.equal(loaded[key], value), key


@pytest.mark.parametrize(("arch", "options"), [
    ("se-resnext-50", ConvertOptions(fuse_bn=True)),
    ("se-bn-inception", ConvertOptions(fuse_bn=True, class_order="imagenet", input="rgb255")),
], ids=["se-resnext-50", "se-bn-inception-imagenet-rgb"])
@pytest.mark.parametrize("target", ["pytorch", "onnx"])
def test_cli_convert_of_an_arch_is_the_eager_file(arch_weights, tmp_path: Path, monkeypatch, arch: str,
                                                  options: ConvertOptions, target: str) -> None:
    """Whole nets (grouped convolutions; BN-Inception with the conventions applied) through ``convert``."""
    net, weights = arch_weights(arch)
    lazy_out, eager_out = tmp_path / "lazy.out", tmp_path / "eager.out"
    convert(net, weights, lazy_out, target, options)
    eager_exports(monkeypatch)
    convert(net, weights, eager_out, target, options)
    assert lazy_out.stat().st_size > 40 * 2**20
    assert lazy_out.read_bytes() == eager_out.read_bytes()

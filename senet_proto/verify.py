"""Verify a conversion: run the converted model(s) and real Caffe on the same input, compare every blob.

The tolerance is relative to the reference blob's largest magnitude: ``max|ours - caffe| / max|caffe|``.
``tolerance`` applies to the net's scores (the blobs that feed a final Softmax, and outputs no Softmax makes);
``blob_tolerance`` to every intermediate blob (float32 rounding differences grow through a deep net).
The default score tolerance is 1e-4, 2e-4 for a BatchNorm-folded or optimized module: folding and oneDNN's
blocked kernels round differently, and the deepest nets' scores then move ~1.1-1.2e-4 of their range.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .caffe import caffe_pb2
from .errors import CaffemodelError, UsageError
from .optional import require
from .reference import INPUT_STD

# what verify compares with Caffe (converters.targets.TARGETS: the formats convert writes)
VERIFY_TARGETS = ("pytorch", "onnx")
NEEDS = {"pytorch": ("torch",), "onnx": ("onnx", "onnxruntime")}  # optional packages per target
TOLERANCE = 1e-4
FOLDED_TOLERANCE = 2e-4


@dataclass
class BlobDiff:
    target: str
    blob: str
    shape: tuple[int, ...]
    max_abs: float
    rel: float
    limit: float

    @property
    def ok(self) -> bool:
        return bool(np.isfinite(self.rel)) and self.rel <= self.limit


@dataclass
class Report:
    rows: list[BlobDiff] = field(default_factory=list)
    backend: str = ""

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows)

    def worst(self, target: str) -> BlobDiff:
        return max((r for r in self.rows if r.target == target), key=lambda r: r.rel / r.limit)


def score_blobs(net: caffe_pb2.NetParameter, outputs: list[str]) -> set[str]:
    """The blobs checked against ``tolerance``: the inputs of a final Softmax (the pre-softmax scores) and the
    outputs no final Softmax makes. A final Softmax's output is checked like any other blob: relative to its
    largest value its error is about the scores' absolute error (near-uniform probabilities on a random input
    amplify it), which the scores' own bound already covers."""
    outs = set(outputs)
    scores = set(outs)
    for layer in net.layer:
        if layer.type == "Softmax" and set(layer.top) & outs:
            scores -= set(layer.top) - set(layer.bottom)
            scores.update(layer.bottom)
    return scores


def _input(net_input: dict[str, tuple[int, ...]], input_file: str | os.PathLike[str] | None,
           seed: int) -> dict[str, np.ndarray]:
    if len(net_input) != 1:
        raise UsageError(f"verify needs a net with one input, this one has {len(net_input)}")
    (name, shape), = net_input.items()
    if input_file is None:
        return {name: np.random.default_rng(seed).normal(0.0, INPUT_STD, size=shape).astype(np.float32)}
    try:
        x = np.load(input_file, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise UsageError(f"--input {input_file}: not a readable .npy file ({e})") from None
    if x.ndim != len(shape) or tuple(x.shape[1:]) != tuple(shape[1:]):
        raise UsageError(f"--input {input_file}: shape {x.shape} does not fit the net's input {tuple(shape)} "
                         "(any batch size is fine)")
    return {name: np.ascontiguousarray(x, dtype=np.float32)}


def _pytorch_blobs(caffenet, x: dict[str, np.ndarray], device: str, fuse_bn: bool,
                   optimize: bool = False) -> dict[str, np.ndarray]:
    import torch

    from .converters.pytorch import build_module

    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available to PyTorch here")
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False  # full float32 products, as Caffe computes them
    torch.backends.cudnn.allow_tf32 = False
    try:
        module = build_module(caffenet, fuse_bn=fuse_bn).to(device)
        if optimize:
            module.optimize_for_inference()  # prepacked oneDNN convolutions (a CPU matter)
        with torch.no_grad():
            blobs = module.forward_blobs(**{k: torch.from_numpy(v).to(device) for k, v in x.items()})
        return {k: v.detach().float().cpu().numpy() for k, v in blobs.items()}
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def _onnx_blobs(caffenet, x: dict[str, np.ndarray], fuse_bn: bool) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    from .converters.onnx import build_onnx, output_blobs

    (name, arr), = x.items()
    model = build_onnx(caffenet, fuse_bn=fuse_bn, input_shape=arr.shape, intermediate=True)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    values = session.run([o.name for o in model.graph.output], {name: arr})
    return dict(zip(output_blobs(model), values, strict=True))


def verify(prototxt: str | os.PathLike[str] | caffe_pb2.NetParameter, caffemodel: str | os.PathLike[str], *,
           targets: tuple[str, ...] = VERIFY_TARGETS, device: str = "cpu",
           input_file: str | os.PathLike[str] | None = None, tolerance: float | None = None,
           blob_tolerance: float = 1e-3, fuse_bn: bool = False, allow_extra: bool = False, seed: int = 0,
           optimize: bool = False) -> Report:
    from . import reference
    from .converters import load_caffe
    from .converters.graph import build_graph, input_shapes

    for t in targets:
        if t not in VERIFY_TARGETS:
            raise UsageError(f"unknown verify target {t!r} (targets: {', '.join(VERIFY_TARGETS)})")
    if device not in ("cpu", "cuda"):
        raise UsageError(f"--device must be cpu or cuda, got {device!r}")
    for t in targets:  # before Caffe runs (minutes for a big net)
        require(*NEEDS[t], what=f"verify --to {t}")
    if optimize and "pytorch" not in targets:
        raise UsageError("--optimize applies to the PyTorch module (--to pytorch or all)")
    if tolerance is None:
        tolerance = FOLDED_TOLERANCE if fuse_bn or optimize else TOLERANCE
    caffenet = load_caffe(prototxt, caffemodel, allow_extra=allow_extra)
    x = _input(input_shapes(caffenet.layers()), input_file, seed)
    graph = build_graph(caffenet)
    scores = score_blobs(caffenet.net, graph.outputs)
    written = {top for node in graph.nodes for top in node.tops}
    ref = reference.forward(caffenet.net, Path(caffemodel), x)
    report = Report(backend=reference.backend_info())
    for target in targets:
        ours = (_pytorch_blobs(caffenet, x, device, fuse_bn, optimize) if target == "pytorch"
                else _onnx_blobs(caffenet, x, fuse_bn))
        for blob, r in ref.items():
            if blob in x and blob not in written:
                continue  # an input nothing overwrites in place
            if blob not in ours:
                if fuse_bn:
                    continue  # a folded BatchNorm leaves no separate pre-BN value
                raise CaffemodelError(f"{target}: the converted model has no blob '{blob}'")
            o = ours[blob]
            if o.shape != r.shape:
                raise CaffemodelError(f"{target}: blob '{blob}' has shape {o.shape}, Caffe's is {r.shape}")
            max_abs = float(np.max(np.abs(o.astype(np.float64) - r))) if r.size else 0.0
            denom = float(np.max(np.abs(r))) if r.size else 0.0
            rel = max_abs / denom if denom > 0 else (0.0 if max_abs == 0 else float("inf"))
            limit = tolerance if blob in scores else blob_tolerance
            report.rows.append(BlobDiff(target, blob, tuple(r.shape), max_abs, rel, limit))
    return report

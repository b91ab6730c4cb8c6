"""Verify a conversion: run the converted model(s) and real Caffe on the same input, compare every blob.

By default each blob is judged against float32's own rounding (``shadow``): the converted PyTorch module also
runs in float64, and a blob passes when Caffe and the target are each within float32 rounding of that exact
function. The first blob (in Caffe's order) that fails names the layer where the conversion goes wrong.
With a fixed ``tolerance`` or ``blob_tolerance`` the old bound applies instead, relative to the reference blob's
largest magnitude: ``max|ours - caffe| / max|caffe|``, ``tolerance`` on the net's scores (the blobs that feed a
final Softmax, and outputs no Softmax makes), ``blob_tolerance`` on every other blob.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .caffe import caffe_pb2
from .errors import CaffemodelError, UsageError
from .optional import require
from .reference import INPUT_STD
from .shadow import Rounding, float64_blobs, rounding

# what verify compares with Caffe (converters.targets.TARGETS: the formats convert writes)
VERIFY_TARGETS = ("pytorch", "onnx")
# optional packages per target (the float64 shadow every target is judged against is the PyTorch module)
NEEDS = {"pytorch": ("torch",), "onnx": ("torch", "onnx", "onnxruntime")}
TOLERANCE = 1e-4
FOLDED_TOLERANCE = 2e-4


BLOB_TOLERANCE = 1e-3
ILL_CONDITIONED = 1e-2  # Caffe's own rounding of the scores past this: the verdict says float32 is the problem


@dataclass
class BlobDiff:
    target: str
    blob: str
    shape: tuple[int, ...]
    max_abs: float
    rel: float
    limit: float | None  # the fixed bound, or None: judged by ``rounding`` against the float64 shadow
    rounding: Rounding | None = None
    mismatch: str = ""  # the shapes, where ours and Caffe's differ

    @property
    def ok(self) -> bool:
        if self.mismatch:
            return False
        if self.limit is None:
            return self.rounding is not None and self.rounding.ok
        return bool(np.isfinite(self.rel)) and self.rel <= self.limit

    def why(self) -> str:
        """Why the blob fails, in words."""
        if self.mismatch:
            return self.mismatch
        if self.limit is None and self.rounding is not None:
            return self.rounding.why()
        return f"rel err {self.rel:.2e} past the fixed limit {self.limit:g}"


@dataclass
class Report:
    rows: list[BlobDiff] = field(default_factory=list)
    backend: str = ""
    net: str = ""
    scores: tuple[str, ...] = ()  # the score blobs, in Caffe's order

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows)

    @property
    def fixed(self) -> bool:
        """Judged by fixed tolerances rather than against float32 rounding."""
        return any(r.limit is not None for r in self.rows)

    def target_rows(self, target: str) -> list[BlobDiff]:
        return [r for r in self.rows if r.target == target]

    def worst(self, target: str) -> BlobDiff:
        """The row furthest past (or nearest to) its bound."""
        def badness(r: BlobDiff) -> float:
            if r.mismatch:
                return math.inf
            if r.limit is None:
                assert r.rounding is not None
                return max(r.rounding.caffe_err / r.rounding.caffe_limit, r.rounding.ours_err / r.rounding.ours_limit)
            return r.rel / r.limit if r.limit > 0 else (0.0 if r.rel == 0 else math.inf)
        return max(self.target_rows(target), key=badness)

    def first_failure(self, target: str) -> BlobDiff | None:
        """The first blob, in Caffe's order, that fails: where the conversion parts ways with Caffe."""
        return next((r for r in self.target_rows(target) if not r.ok), None)

    def verdict(self, target: str) -> str:
        """One line a person understands: does ``target`` compute Caffe's function?"""
        rows = self.target_rows(target)
        bad = [r for r in rows if not r.ok]
        first = self.first_failure(target)
        if first is not None:
            what = "the fixed tolerance" if self.fixed else "float32 rounding"
            return (f"{target}: DIFFERS from Caffe from blob '{first.blob}' on: {first.why()} "
                    f"({len(bad)} of {len(rows)} blobs past {what})")
        by_name = {r.blob: r for r in rows}
        score = next((by_name[b] for b in self.scores if b in by_name), rows[-1])
        net = f"{self.net} " if self.net else ""
        if self.fixed:
            w = self.worst(target)
            return (f"{target}: within the fixed tolerance: {net}scores ({score.blob}) {score.rel:.1e} from Caffe; "
                    f"worst {w.blob} {w.rel:.1e} (limit {w.limit:g}); {len(rows)} blobs")
        assert score.rounding is not None
        noisy = ("; float32 itself cannot compute these scores on this input (the net amplifies rounding): "
                 "check on an input like its training data" if score.rounding.caffe_err > ILL_CONDITIONED else "")
        return (f"{target}: exact up to float32 rounding: {net}scores ({score.blob}) {score.rel:.1e} from Caffe, "
                f"Caffe's own rounding {score.rounding.caffe_err:.1e}, ours {score.rounding.ours_err:.1e}; "
                f"{len(rows)} blobs{noisy}")


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


def check_tolerance(name: str, value: float | None) -> None:
    """A fixed bound given on the command line: a finite number >= 0 (UsageError otherwise)."""
    if value is not None and not (math.isfinite(value) and value >= 0):
        raise UsageError(f"--{name} must be a finite number >= 0, got {value:g}")


def verify(prototxt: str | os.PathLike[str] | caffe_pb2.NetParameter, caffemodel: str | os.PathLike[str], *,
           targets: tuple[str, ...] = VERIFY_TARGETS, device: str = "cpu",
           input_file: str | os.PathLike[str] | None = None, tolerance: float | None = None,
           blob_tolerance: float | None = None, fuse_bn: bool = False,
           allow_extra: bool = False, seed: int = 0, optimize: bool = False) -> Report:
    """Every blob of each target against Caffe. Without ``tolerance`` and ``blob_tolerance`` each blob is judged
    against float32 rounding (module doc); with either, by fixed bounds (``tolerance`` defaults to 1e-4, 2e-4
    for a folded or optimized module, ``blob_tolerance`` to 1e-3)."""
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
    check_tolerance("tolerance", tolerance)
    check_tolerance("blob-tolerance", blob_tolerance)
    fixed = tolerance is not None or blob_tolerance is not None
    if tolerance is None:
        tolerance = FOLDED_TOLERANCE if fuse_bn or optimize else TOLERANCE
    if blob_tolerance is None:
        blob_tolerance = BLOB_TOLERANCE
    caffenet = load_caffe(prototxt, caffemodel, allow_extra=allow_extra)
    x = _input(input_shapes(caffenet.layers()), input_file, seed)
    graph = build_graph(caffenet)
    scores = score_blobs(caffenet.net, graph.outputs)
    written = {top for node in graph.nodes for top in node.tops}
    ref = reference.forward(caffenet.net, Path(caffemodel), x)
    shadow = float64_blobs(caffenet, x)
    report = Report(backend=reference.backend_info(), net=caffenet.net.name,
                    scores=tuple(b for b in ref if b in scores))
    for target in targets:
        before = 0.0
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
            limit = (tolerance if blob in scores else blob_tolerance) if fixed else None
            s = shadow.get(blob)
            if o.shape != r.shape or s is None or s.shape != r.shape:
                theirs = "x".join(map(str, r.shape))
                mismatch = (f"shape {'x'.join(map(str, o.shape))}, Caffe's {theirs}" if o.shape != r.shape else
                            f"our float64 run's shape is {'x'.join(map(str, s.shape)) if s is not None else 'absent'}, "
                            f"Caffe's {theirs}")
                report.rows.append(BlobDiff(target, blob, tuple(r.shape), math.inf, math.inf, limit,
                                            mismatch=mismatch))
                continue
            judged = rounding(r, o, s, before)
            if judged.ok:  # a failed blob's distance is the mistake's, not rounding: it loosens nothing after it
                before = judged.drift
            max_abs = float(np.max(np.abs(o.astype(np.float64) - r))) if r.size else 0.0
            report.rows.append(BlobDiff(target, blob, tuple(r.shape), max_abs, judged.ours_vs_caffe, limit, judged))
    return report

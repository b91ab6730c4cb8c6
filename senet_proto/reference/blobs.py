"""Forward and backward in real Caffe: run a net and bring its blobs back by name.

The user's prototxt is never changed on disk: Axpy layers are rewritten in an in-memory copy (``netprep``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..caffe import caffe_pb2, format_prototxt
from ..caffe.io import NetLike
from ..errors import CaffeReferenceError
from . import netprep
from .backend import job_dir
from .jobs import INPUT_STD, add_weights, existing_file, load_net, named_inputs, save_inputs


def _check_random_inputs(net: caffe_pb2.NetParameter) -> None:
    for name, shape in netprep.input_shapes(net).items():
        if not shape or any(d <= 0 for d in shape):
            raise CaffeReferenceError(f"input {name!r} has no usable shape {tuple(shape)}; pass its array")


def _run_blob_job(
    prepared: caffe_pb2.NetParameter,
    named: Mapping[str, np.ndarray],
    weights: Path | None,
    spec: dict[str, Any],
    arrays: Mapping[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Run one job that brings blobs back (forward, backward) and return them by name, in Caffe's order.

    The job gets the net as ``net.prototxt``, the inputs as ``in_NNNN.npy`` (named in ``spec["inputs"]``
    in that order), ``arrays`` under their file names and the caffemodel, if any, as ``weights.caffemodel``;
    the runner writes the blobs it lists in ``blobs`` as ``out_NNNN.npy``.
    """
    with job_dir() as job:
        (job.path / "net.prototxt").write_text(format_prototxt(prepared))
        save_inputs(job, named)
        for file_name, array in (arrays or {}).items():
            np.save(job.path / file_name, array)
        spec = {**spec, "inputs": list(named)}
        add_weights(job, spec, weights)
        result = job.run(spec)
        return {name: np.load(job.path / f"out_{i:04d}.npy") for i, name in enumerate(result["blobs"])}


def forward(
    net: NetLike,
    caffemodel: str | os.PathLike[str] | None = None,
    inputs: Mapping[str, np.ndarray] | np.ndarray | None = None,
    *,
    seed: int = 0,
    blobs: Sequence[str] | None = None,
    phase: str = "test",
) -> dict[str, np.ndarray]:
    """Run real Caffe (TEST phase, or ``phase="train"``) and return every blob of ``net.blobs`` after the
    forward pass.

    ``inputs`` maps input blob names to arrays (or is one array for a net with one input); the input
    blobs take the arrays' shapes.  Without inputs, every input is random normal with std ``INPUT_STD``
    (seeded by ``seed``).  Without ``caffemodel`` the parameters are whatever Caffe's fillers make.
    Blobs come back as float32 arrays in Caffe's blob order (the copies that Caffe's automatic Split
    layers make, ``*_split_N``, are left out); ``blobs`` restricts which.  In-place layers
    (top == bottom, e.g. ReLU, BatchNorm, Scale) share one blob: it holds the value after the LAST
    layer that wrote it (e.g. ``conv1`` holds the post-ReLU value when conv1's ReLU runs in place).
    """
    src = load_net(net)
    prepared, _ = netprep.rewrite_for_caffe(src)
    named = named_inputs(prepared, inputs)
    if named:
        netprep.set_input_shapes(prepared, {k: v.shape for k, v in named.items()})
    if set(named) != set(netprep.input_shapes(prepared)):
        _check_random_inputs(prepared)
        if named:
            missing = sorted(set(netprep.input_shapes(prepared)) - set(named))
            raise CaffeReferenceError(f"inputs missing: {', '.join(missing)} (pass all inputs or none)")
    weights = existing_file(caffemodel, "caffemodel") if caffemodel is not None else None
    if phase not in ("test", "train"):
        raise CaffeReferenceError(f"phase must be 'test' or 'train', not {phase!r}")
    spec = {"cmd": "forward", "seed": int(seed), "input_std": INPUT_STD, "phase": phase,
            "blobs": list(blobs) if blobs is not None else None, "known": netprep.blob_names(prepared)}
    return _run_blob_job(prepared, named, weights, spec)


def gradients(
    net: NetLike,
    inputs: Mapping[str, np.ndarray] | np.ndarray,
    top_diffs: Mapping[str, np.ndarray],
    *,
    caffemodel: str | os.PathLike[str] | None = None,
) -> dict[str, np.ndarray]:
    """Caffe's backward pass: the gradients of the input blobs given gradients of some blobs.

    Runs forward on ``inputs`` (all of the net's inputs), sets the diffs of the blobs in ``top_diffs``
    (usually the outputs) and runs Caffe's backward over the whole net with ``force_backward``.
    """
    src = load_net(net)
    prepared, _ = netprep.rewrite_for_caffe(src)
    named = named_inputs(prepared, inputs)
    missing = sorted(set(netprep.input_shapes(prepared)) - set(named))
    if missing:
        raise CaffeReferenceError(f"inputs missing: {', '.join(missing)}")
    netprep.set_input_shapes(prepared, {k: v.shape for k, v in named.items()})
    prepared.force_backward = True
    weights = existing_file(caffemodel, "caffemodel") if caffemodel is not None else None
    diffs = {f"diff_{i:04d}.npy": np.ascontiguousarray(top_diffs[name], dtype=np.float32)
             for i, name in enumerate(top_diffs)}
    return _run_blob_job(prepared, named, weights, {"cmd": "backward", "top_diffs": list(top_diffs)}, diffs)

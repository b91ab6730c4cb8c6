"""The reference backend's public functions: run real Caffe on a net and bring every blob back.

Everything runs in a subprocess (see ``backend``); data crosses as .npy files,
prototxt text and caffemodels.  The user's prototxt is never changed on disk:
Axpy layers are rewritten in an in-memory copy (``netprep``).
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import itertools
import logging
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from ..caffe import caffe_pb2, format_prototxt, read_prototxt
from ..caffe.io import NetLike
from ..errors import CaffemodelError, CaffeReferenceError
from ..fsutil import atomic_write_bytes, check_output_path
from ..progress import progress
from . import netprep
from .backend import get_backend, job_dir
from .root import cache_dir

log = logging.getLogger("senet_proto.reference")

INPUT_STD = 50.0
"""Random inputs are normal with this std: the spread of a mean-subtracted 0-255 image (ImageNet's is ~58)."""

CALIBRATION_BATCH = 2

CACHE_MAX_AGE_S = 24 * 3600



def _load_net(net: NetLike) -> caffe_pb2.NetParameter:
    if isinstance(net, caffe_pb2.NetParameter):
        return net
    return read_prototxt(net)


def _existing(path: str | os.PathLike[str], what: str) -> Path:
    p = Path(path)
    if not p.is_file():
        raise CaffemodelError(f"{p}: no such {what}")
    return p


def backend_info() -> str:
    """Which Caffe runs the reference (creating the Debian 11 root if it is needed and missing)."""
    return get_backend().describe()


def _progress_callback(desc: str) -> tuple[Callable[[int, int], None], Callable[[], None]]:
    """A callback driving a progress bar, and a function that closes the bar."""
    state: dict[str, Any] = {"bar": None, "done": 0}

    def update(done: int, total: int) -> None:
        if state["bar"] is None:
            state["bar"] = progress(itertools.count(), desc, total=total)
        bar: Iterator[int] = state["bar"]
        while state["done"] < done:
            next(bar)
            state["done"] += 1

    def close() -> None:
        if state["bar"] is not None:
            state["bar"].close()

    return update, close


def _named_inputs(
    net: caffe_pb2.NetParameter, inputs: Mapping[str, np.ndarray] | np.ndarray | None
) -> dict[str, np.ndarray]:
    declared = netprep.input_shapes(net)
    if inputs is None:
        return {}
    if isinstance(inputs, np.ndarray):
        if len(declared) != 1:
            raise CaffeReferenceError(f"the net has {len(declared)} inputs ({', '.join(declared)}); "
                                      "pass a dict of arrays by blob name")
        inputs = {next(iter(declared)): inputs}
    out: dict[str, np.ndarray] = {}
    for name, arr in inputs.items():
        if name not in declared:
            raise CaffeReferenceError(f"{name!r} is not an input of the net (inputs: {', '.join(declared) or 'none'})")
        a = np.ascontiguousarray(arr, dtype=np.float32)
        if a.ndim == 0 or 0 in a.shape:
            raise CaffeReferenceError(f"input {name!r} has an empty shape {a.shape}")
        out[name] = a
    return out


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
        for i, array in enumerate(named.values()):
            np.save(job.path / f"in_{i:04d}.npy", array)
        for file_name, array in (arrays or {}).items():
            np.save(job.path / file_name, array)
        spec = {**spec, "inputs": list(named)}
        if weights is not None:
            job.add_file("weights.caffemodel", weights)
            spec["weights"] = "weights.caffemodel"
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
    src = _load_net(net)
    prepared, _ = netprep.rewrite_for_caffe(src)
    named = _named_inputs(prepared, inputs)
    if named:
        netprep.set_input_shapes(prepared, {k: v.shape for k, v in named.items()})
    if set(named) != set(netprep.input_shapes(prepared)):
        _check_random_inputs(prepared)
        if named:
            missing = sorted(set(netprep.input_shapes(prepared)) - set(named))
            raise CaffeReferenceError(f"inputs missing: {', '.join(missing)} (pass all inputs or none)")
    weights = _existing(caffemodel, "caffemodel") if caffemodel is not None else None
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
    src = _load_net(net)
    prepared, _ = netprep.rewrite_for_caffe(src)
    named = _named_inputs(prepared, inputs)
    missing = sorted(set(netprep.input_shapes(prepared)) - set(named))
    if missing:
        raise CaffeReferenceError(f"inputs missing: {', '.join(missing)}")
    netprep.set_input_shapes(prepared, {k: v.shape for k, v in named.items()})
    prepared.force_backward = True
    weights = _existing(caffemodel, "caffemodel") if caffemodel is not None else None
    diffs = {f"diff_{i:04d}.npy": np.ascontiguousarray(top_diffs[name], dtype=np.float32)
             for i, name in enumerate(top_diffs)}
    return _run_blob_job(prepared, named, weights, {"cmd": "backward", "top_diffs": list(top_diffs)}, diffs)


def _restore_layers(saved: bytes, original: caffe_pb2.NetParameter, axpy: Sequence[str]) -> bytes:
    """Caffe saved the rewritten net: give Axpy layers their own spelling back (type Axpy, or the user's
    Python layer named Axpy) and inputs their original shapes."""
    msg = caffe_pb2.NetParameter.FromString(saved)
    by_name = {layer.name: layer for layer in original.layer}
    rewritten = set(axpy)
    for layer in msg.layer:
        if layer.name in rewritten:
            own = by_name[layer.name]
            layer.type = own.type
            if own.HasField("python_param"):
                layer.python_param.CopyFrom(own.python_param)
            else:
                layer.ClearField("python_param")
        elif layer.type == "Input" and layer.name in by_name:
            layer.input_param.CopyFrom(by_name[layer.name].input_param)
    del msg.input_shape[:]
    msg.input_shape.extend(original.input_shape)
    del msg.input_dim[:]
    msg.input_dim.extend(original.input_dim)
    return msg.SerializeToString()


def make_weights(
    net: NetLike,
    out_path: str | os.PathLike[str],
    *,
    seed: int = 0,
    input_shape: Sequence[int] | None = None,
    zero_factor_layers: Sequence[str] | None = None,
    force: bool = True,
    calibration_input: np.ndarray | None = None,
) -> Path:
    """Make realistic random weights with real Caffe and save them (``net.save``) to ``out_path``.

    Convolution/InnerProduct weights are He-scaled normal (std sqrt(2/fan_in)), their biases N(0, 0.01);
    Scale gammas are uniform in [0.7, 1.3], betas N(0, 0.1).  Then every BatchNorm is calibrated in network
    order: Caffe runs forward up to the layer before it on a random input (normal, std ``INPUT_STD``, batch
    ``CALIBRATION_BATCH`` unless ``input_shape`` is given) and the BatchNorm gets the per-channel mean and
    (biased) variance of the blob it normalises, stored with a random moving-average factor f in
    [0.01, 1000] that is never near 1 (blob0 = mean·f, blob1 = var·f, blob2 = f).

    ``calibration_input`` (one array for a net with one input) replaces the random input: weights calibrated on
    the kind of input a test feeds (e.g. image crops) stay well-conditioned on it.

    One BatchNorm gets f = 0 (``zero_factor_layers`` names them; by default one picked by ``seed`` among
    those followed by an in-place Scale with a bias): Caffe then normalises with mean 0 and var 0, i.e.
    computes x / sqrt(eps), so the following Scale gets gamma·sqrt(eps)/sqrt(var+eps) and
    beta − gamma·mean/sqrt(var+eps): the net computes the same well-scaled function.  Its blob0/blob1 keep
    the (ignored) statistics, so a converter that divides by f shows inf/NaN.

    Deterministic for a given seed.  The saved file has the original layer definitions (Axpy type, Input
    shapes); the blobs are exactly what Caffe saved.
    """
    out = check_output_path(out_path, force=force)
    src = _load_net(net)
    prepared, axpy = netprep.rewrite_for_caffe(src)
    declared = netprep.input_shapes(prepared)
    if not declared:
        raise CaffeReferenceError("the net has no input blob to calibrate its BatchNorm layers with")
    calibration: dict[str, np.ndarray] = {}
    if calibration_input is not None:
        calibration = _named_inputs(prepared, np.asarray(calibration_input))
        input_shape = calibration_input.shape
    if input_shape is not None:
        if len(declared) != 1:
            raise CaffeReferenceError("input_shape is only for nets with one input")
        shapes = {next(iter(declared)): [int(d) for d in input_shape]}
    else:
        shapes = {name: [CALIBRATION_BATCH, *shape[1:]] for name, shape in declared.items()}
    for name, shape in shapes.items():
        if len(shape) < 2 or any(d <= 0 for d in shape):
            raise CaffeReferenceError(f"input {name!r} has no usable shape {tuple(shape)}")
    netprep.set_input_shapes(prepared, shapes)
    eps = netprep.batchnorm_eps(prepared)
    update, close = _progress_callback("calibrating BatchNorm")
    with job_dir() as job:
        (job.path / "net.prototxt").write_text(format_prototxt(prepared))
        for i, array in enumerate(calibration.values()):
            np.save(job.path / f"in_{i:04d}.npy", array)
        spec = {"cmd": "weights", "seed": int(seed), "input_std": INPUT_STD, "bn_eps": eps,
                "zero_factor": list(zero_factor_layers) if zero_factor_layers is not None else None,
                "inputs": list(calibration)}
        try:
            result = job.run(spec, on_progress=update)
        finally:
            close()
        bad = [n for n, s in result["outputs"].items() if not s["finite"]]
        if bad:
            raise CaffeReferenceError(f"the calibrated net gives non-finite outputs ({', '.join(bad)})")
        log.info("BatchNorm factors: %d calibrated, f == 0 for %s", len(result["factors"]),
                 ", ".join(result["zero_factor"]) or "none")
        data = _restore_layers((job.path / "out.caffemodel").read_bytes(), src, axpy)
    atomic_write_bytes(out, data, force=True)
    return out


def _weights_code_digest() -> str:
    """A digest of the code that makes weights: cached files are remade when it changes."""
    h = hashlib.sha256()
    pkg = resources.files("senet_proto.reference")
    for name in ("api.py", "netprep.py", "inroot/runner.py", "inroot/senet_axpy.py"):
        h.update((pkg / name).read_bytes())
    return h.hexdigest()


def cached_weights(net: NetLike, *, seed: int = 0, calibration_input: np.ndarray | None = None) -> Path:
    """``make_weights`` with default settings (or on ``calibration_input``), cached under the cache root (keyed
    by net, seed, calibration input and code).

    For tests and tools that need the same weights repeatedly; the cache lives next to the Caffe root
    (``$XDG_CACHE_HOME/senet-proto/weights``) and is safe to delete; making a new file removes the ones of
    the same net name and seed that were not used for a day.
    """
    src = _load_net(net)
    key = hashlib.sha256()
    key.update(src.SerializeToString(deterministic=True))
    key.update(f"seed={int(seed)}".encode())
    if calibration_input is not None:
        calib = np.ascontiguousarray(calibration_input, dtype=np.float32)
        key.update(f"calibration={calib.shape}".encode())
        key.update(calib.tobytes())
    key.update(_weights_code_digest().encode())
    prefix = f"{re.sub(r'[^A-Za-z0-9._-]+', '_', src.name or 'net')[:40]}-s{int(seed)}-"
    directory = cache_dir() / "weights"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{prefix}{key.hexdigest()[:20]}.caffemodel"
    with open(directory / f".{prefix}lock", "w") as lock:  # parallel test workers make each file once
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.is_file():
            path.touch()  # recently used: not evicted below by another run
            return path
        make_weights(src, path, seed=seed, force=True, calibration_input=calibration_input)
        # Files of the same net name and seed unused for a day: older code or another variant, or the temporary
        # file of a run killed outright (SIGKILL) mid-write, never used under its final name.
        # (Several checkouts of different code may share the cache at the same time: keep theirs.)
        for old in [*directory.glob(f"{glob.escape(prefix)}*.caffemodel"),
                    *directory.glob(f".{glob.escape(prefix)}*.part")]:
            with contextlib.suppress(OSError):
                if old != path and time.time() - old.stat().st_mtime > CACHE_MAX_AGE_S:
                    old.unlink()
    return path


def _solver_param(
    solver: caffe_pb2.SolverParameter | str | os.PathLike[str] | None,
) -> caffe_pb2.SolverParameter:
    msg = caffe_pb2.SolverParameter()
    if isinstance(solver, caffe_pb2.SolverParameter):
        msg.CopyFrom(solver)
    elif solver is not None:
        msg.CopyFrom(read_prototxt(solver, message=caffe_pb2.SolverParameter))
    return msg


def train(
    net: NetLike,
    solver: caffe_pb2.SolverParameter | str | os.PathLike[str] | None = None,
    iters: int = 5,
    *,
    seed: int = 0,
    caffemodel: str | os.PathLike[str] | None = None,
    base_lr: float = 0.01,
) -> list[float]:
    """Train ``net`` (its TRAIN phase, e.g. with DummyData) for ``iters`` SGD steps in Caffe; the losses.

    Each entry is the weighted sum of the net's loss blobs in that iteration's forward pass.  Without
    ``caffemodel`` the parameters start as in ``make_weights`` (uncalibrated: BatchNorm uses batch
    statistics in training).  The solver (default SGD, ``base_lr``, momentum 0.9, weight decay 1e-4) is
    given this net in memory; its own ``net``/``train_net`` settings are ignored.
    """
    if iters < 1:
        raise CaffeReferenceError("iters must be at least 1")
    src = _load_net(net)
    prepared, _ = netprep.rewrite_for_caffe(src)
    losses = netprep.loss_blobs(prepared, caffe_pb2.TRAIN)
    if not losses:
        raise CaffeReferenceError("the net has no loss layer in the TRAIN phase")
    sp = _solver_param(solver)
    for field in ("net", "train_net", "train_net_param", "test_net", "test_net_param", "test_iter",
                  "test_interval", "test_state", "train_state", "snapshot_prefix"):
        sp.ClearField(field)
    sp.net_param.CopyFrom(prepared)
    sp.max_iter = iters
    if not sp.HasField("base_lr"):
        sp.base_lr = base_lr
    if not sp.HasField("lr_policy"):
        sp.lr_policy = "fixed"
    if not sp.HasField("momentum") and sp.type in ("SGD", "Nesterov"):
        sp.momentum = 0.9
    if not sp.HasField("weight_decay"):
        sp.weight_decay = 1e-4
    sp.display = 0
    sp.snapshot = 0
    sp.snapshot_after_train = False
    sp.random_seed = int(seed)
    sp.solver_mode = caffe_pb2.SolverParameter.CPU
    weights = _existing(caffemodel, "caffemodel") if caffemodel is not None else None
    update, close = _progress_callback("training")
    with job_dir() as job:
        (job.path / "solver.prototxt").write_text(format_prototxt(sp))
        spec: dict[str, Any] = {"cmd": "train", "seed": int(seed), "iters": int(iters), "loss_blobs": losses}
        if weights is not None:
            job.add_file("weights.caffemodel", weights)
            spec["weights"] = "weights.caffemodel"
        try:
            result = job.run(spec, on_progress=update)
        finally:
            close()
    return [float(x) for x in result["losses"]]


__all__ = ["INPUT_STD", "backend_info", "cached_weights", "forward", "gradients", "make_weights", "train"]

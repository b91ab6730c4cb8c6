"""A few SGD steps in real Caffe: the solver built around the net in memory, the losses brought back."""

from __future__ import annotations

import os
from typing import Any

from ..caffe import caffe_pb2, format_prototxt, read_prototxt
from ..caffe.io import NetLike
from ..errors import CaffeReferenceError
from . import netprep
from .backend import job_dir
from .jobs import add_weights, existing_file, load_net, progress_callback


def _solver_param(
    solver: caffe_pb2.SolverParameter | str | os.PathLike[str] | None,
) -> caffe_pb2.SolverParameter:
    msg = caffe_pb2.SolverParameter()
    if isinstance(solver, caffe_pb2.SolverParameter):
        msg.CopyFrom(solver)
    elif solver is not None:
        msg.CopyFrom(read_prototxt(solver, message=caffe_pb2.SolverParameter))
    return msg


def _build_solver(
    solver: caffe_pb2.SolverParameter | str | os.PathLike[str] | None,
    prepared: caffe_pb2.NetParameter,
    iters: int,
    seed: int,
    base_lr: float,
) -> caffe_pb2.SolverParameter:
    """The user's solver (or SGD's defaults) given ``prepared`` in memory, ``iters`` steps on the CPU, no snapshots
    and no test nets."""
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
    return sp


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
    src = load_net(net)
    prepared, _ = netprep.rewrite_for_caffe(src)
    losses = netprep.loss_blobs(prepared, caffe_pb2.TRAIN)
    if not losses:
        raise CaffeReferenceError("the net has no loss layer in the TRAIN phase")
    sp = _build_solver(solver, prepared, iters, seed, base_lr)
    weights = existing_file(caffemodel, "caffemodel") if caffemodel is not None else None
    update, close = progress_callback("training")
    with job_dir() as job:
        (job.path / "solver.prototxt").write_text(format_prototxt(sp))
        spec: dict[str, Any] = {"cmd": "train", "seed": int(seed), "iters": int(iters), "loss_blobs": losses}
        add_weights(job, spec, weights)
        try:
            result = job.run(spec, on_progress=update)
        finally:
            close()
    return [float(x) for x in result["losses"]]

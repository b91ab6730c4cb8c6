"""Realistic test weights made by real Caffe: He-scaled random parameters, every BatchNorm calibrated.

The calibration itself runs in ``inroot/runner.py`` (``cmd: weights``); this module prepares the job and gives
the saved caffemodel the user's own layer definitions back.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..caffe import caffe_pb2, format_prototxt
from ..caffe.io import NetLike
from ..errors import CaffeReferenceError
from ..fsutil import atomic_write_bytes, check_output_path
from . import netprep
from .backend import job_dir
from .jobs import INPUT_STD, load_net, named_inputs, progress_callback, save_inputs

log = logging.getLogger("senet_proto.reference")

CALIBRATION_BATCH = 2


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
    src = load_net(net)
    prepared, axpy = netprep.rewrite_for_caffe(src)
    declared = netprep.input_shapes(prepared)
    if not declared:
        raise CaffeReferenceError("the net has no input blob to calibrate its BatchNorm layers with")
    calibration: dict[str, np.ndarray] = {}
    if calibration_input is not None:
        calibration = named_inputs(prepared, np.asarray(calibration_input))
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
    update, close = progress_callback("calibrating BatchNorm")
    with job_dir() as job:
        (job.path / "net.prototxt").write_text(format_prototxt(prepared))
        save_inputs(job, calibration)
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

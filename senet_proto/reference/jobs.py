"""What every reference job shares: the net read once, the inputs named and checked, a progress bar,
the caffemodel handed over.

Data crosses into the job directory (``backend.job_dir``) as prototxt text, .npy files and caffemodels.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..caffe import caffe_pb2, read_prototxt
from ..caffe.io import NetLike
from ..errors import CaffemodelError, CaffeReferenceError
from ..progress import progress_bar
from . import netprep
from .backend import Job

INPUT_STD = 50.0
"""Random inputs are normal with this std: the spread of a mean-subtracted 0-255 image (ImageNet's is ~58)."""


def load_net(net: NetLike) -> caffe_pb2.NetParameter:
    if isinstance(net, caffe_pb2.NetParameter):
        return net
    return read_prototxt(net)


def existing_file(path: str | os.PathLike[str], what: str) -> Path:
    p = Path(path)
    if not p.is_file():
        raise CaffemodelError(f"{p}: no such {what}")
    return p


def add_weights(job: Job, spec: dict[str, Any], weights: Path | None) -> None:
    """Hand the caffemodel, if any, to the job as ``weights.caffemodel`` and name it in ``spec``."""
    if weights is not None:
        job.add_file("weights.caffemodel", weights)
        spec["weights"] = "weights.caffemodel"


def progress_callback(desc: str) -> tuple[Callable[[int, int], None], Callable[[], None]]:
    """A callback ``(done, total)`` driving a progress bar (made at the first call, when the total is known), and
    a function that closes the bar."""
    state: dict[str, Any] = {"bar": None, "done": 0}

    def update(done: int, total: int) -> None:
        if state["bar"] is None:
            state["bar"] = progress_bar(total, desc)
        if done > state["done"]:
            state["bar"].update(done - state["done"])
            state["done"] = done

    def close() -> None:
        if state["bar"] is not None:
            state["bar"].close()

    return update, close


def named_inputs(
    net: caffe_pb2.NetParameter, inputs: Mapping[str, np.ndarray] | np.ndarray | None
) -> dict[str, np.ndarray]:
    """The inputs by blob name as contiguous float32 arrays (one array stands for a net's only input)."""
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


def save_inputs(job: Job, named: Mapping[str, np.ndarray]) -> None:
    """The inputs as ``in_NNNN.npy`` in ``named``'s order (the spec names them in that order)."""
    for i, array in enumerate(named.values()):
        np.save(job.path / f"in_{i:04d}.npy", array)

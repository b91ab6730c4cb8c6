"""Export targets of ``senet-proto convert --to``: target name -> ``module:function``.

Every exporter has the signature ``export(caffenet, out, options, force=False) -> Path``:
``caffenet`` is already loaded (``load_caffe``) with the weight conventions applied
(``conventions.apply_conventions``); the exporter writes ``out`` atomically
(``fsutil.atomic_open``) and records ``conventions.metadata(options)`` with the weights.
Modules are imported only when their target is used.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..caffe.fastblob import release_pages
from ..caffe.validate import check_graph
from ..errors import UsageError
from ..fsutil import check_output_dir, check_output_path
from .conventions import ConvertOptions, apply_conventions
from .loader import CaffeNet, load_caffe

log = logging.getLogger("senet_proto.convert")

TARGETS: dict[str, str] = {
    "pytorch": "senet_proto.converters.pytorch_io:export_pytorch",
    "onnx": "senet_proto.converters.onnx:export_onnx",
    "timm": "senet_proto.converters.timm:export_timm",
    "timm-dir": "senet_proto.converters.timm_dir:export_timm_dir",
}
DIR_TARGETS = frozenset({"timm-dir"})  # targets whose output is a folder


def warn_non_finite(caffenet: CaffeNet) -> int:
    """Log a warning for every layer whose weights hold NaN or infinity; returns how many layers do."""
    bad = 0
    for name, blobs in caffenet.weights.items():
        # one pass, no mask as large as the blob: a sum is finite only if every term is (a finite sum proves the
        # blob finite; an overflowing sum of finite values only costs the exact count below)
        with np.errstate(over="ignore", invalid="ignore"):
            finite = all(b.size == 0 or np.isfinite(b.sum()) for b in blobs)
        for b in blobs:
            release_pages(b)  # a memory-mapped caffemodel: keep the resident set small
        if finite:
            continue
        counts = [int(b.size - np.count_nonzero(np.isfinite(b))) for b in blobs]
        if any(counts):
            bad += 1
            log.warning("layer '%s' has non-finite weights (NaN or inf: %s per blob); the converted model "
                        "will compute them as they are", name, counts)
    return bad


def get_exporter(target: str) -> Callable[..., Path]:
    spec = TARGETS.get(target)
    if spec is None:
        raise UsageError(f"unknown target {target!r} (targets: {', '.join(sorted(TARGETS))})")
    module_name, attr = spec.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name and module_name.startswith(e.name):
            raise UsageError(f"target {target!r} is not available in this version of senet-proto") from None
        raise UsageError(f"target {target!r} needs the Python package '{e.name}' (pip install 'senet-proto[all]')") \
            from None
    fn: Callable[..., Path] = getattr(module, attr)
    return fn


def check_target_output(target: str, out: str | os.PathLike[str], force: bool = False) -> Path:
    """The output path checked before any work: a file, or a folder for the folder targets."""
    return check_output_dir(out, force=force) if target in DIR_TARGETS else check_output_path(out, force=force)


def convert(prototxt: Any, caffemodel: str | os.PathLike[str], out: str | os.PathLike[str], target: str = "pytorch",
            options: ConvertOptions | None = None, *, force: bool = False) -> Path:
    """Load, apply the conventions and export; the output path is checked before any work."""
    options = options or ConvertOptions()
    options.validate()
    if options.external_data and target != "onnx":
        raise UsageError(f"external data applies to --to onnx only (this is --to {target})")
    check_target_output(target, out, force=force)
    exporter = get_exporter(target)
    if options.external_data:
        from .onnx import data_path

        check_output_path(data_path(out), force=force)
    caffenet = load_caffe(prototxt, caffemodel, allow_extra=options.allow_extra)
    check_graph(caffenet.net)
    warn_non_finite(caffenet)
    if target == "timm-dir":  # a timm folder always takes RGB and, for 1000 classes, the standard order
        from .timm_dir import folder_options

        options = folder_options(options, caffenet)
    caffenet = apply_conventions(caffenet, options)
    return exporter(caffenet, out, options, force=force)

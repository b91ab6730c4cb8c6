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
from ..optional import missing, needs
from .conventions import ConvertOptions, apply_conventions
from .loader import CaffeNet, load_caffe

log = logging.getLogger("senet_proto.convert")

TARGETS: dict[str, str] = {
    "pytorch": "senet_proto.converters.pytorch_io:export_pytorch",
    "onnx": "senet_proto.converters.onnx:export_onnx",
    "timm": "senet_proto.converters.timm:export_timm",
    "timm-dir": "senet_proto.converters.timm_dir:export_timm_dir",
}
DIRECTORY = "directory"
# What each target writes: a file suffix, or DIRECTORY for a target that writes a folder (timm's folder,
# 'timm-dir'). The one place that ties outputs to targets: without --to the output's name picks the first
# target listed for its suffix (a directory: an existing one, or a name ending in '/'), and a name that
# contradicts --to is a usage error.
TARGET_OUTPUTS: dict[str, str] = {
    "pytorch": ".safetensors",
    "onnx": ".onnx",
    "timm": ".safetensors",
    "timm-dir": DIRECTORY,
}
DIR_TARGETS = frozenset(t for t, kind in TARGET_OUTPUTS.items() if kind == DIRECTORY)  # targets writing a folder


def output_kind(out: str | os.PathLike[str]) -> str:
    """DIRECTORY for an existing directory or a name ending in '/', else the lower-case suffix ('' for none)."""
    text = os.fspath(out)
    if text.endswith(("/", os.sep)) or Path(text).is_dir():
        return DIRECTORY
    return Path(text).suffix.lower()


def target_for_output(out: str | os.PathLike[str], target: str | None = None) -> str:
    """``target`` checked against the output's name, or (None) the target the name implies; UsageError when the
    name says another kind of output (``--to timm -o t.onnx``) or, without ``target``, says none."""
    from ..filekinds import SUFFIX_KINDS, check_output_suffix

    kind = output_kind(out)
    if target is None:
        implied = next((t for t, k in TARGET_OUTPUTS.items() if k == kind), None)
        if implied is None:
            firsts: dict[str, str] = {}
            for t, k in TARGET_OUTPUTS.items():
                if k != DIRECTORY and t in TARGETS:
                    firsts.setdefault(k, t)
            names = " or ".join(f"OUT{k} ({t})" for k, t in firsts.items())
            raise UsageError(f"-o {out}: the name does not say which target; give --to "
                             f"({'|'.join(sorted(TARGETS))}) or name the output {names}")
        if implied not in TARGETS:
            raise UsageError(f"-o {out}: a directory is the output of the target '{implied}', which this version "
                             "of senet-proto lacks; give --to and a file name")
        return implied
    expected = TARGET_OUTPUTS.get(target, "")
    if expected == DIRECTORY:
        if kind != DIRECTORY and kind in SUFFIX_KINDS:
            raise UsageError(f"-o {out}: a {kind} name, but --to {target} writes a directory")
    elif kind == DIRECTORY:
        raise UsageError(f"-o {out}: a directory, but --to {target} writes one {expected} file")
    elif expected:
        check_output_suffix(out, (expected,), f"{SUFFIX_KINDS.get(expected, expected)} (--to {target})")
    return target


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
        raise missing(e.name or "", f"--to {target}") from None
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
    with needs(f"--to {target}"):
        return exporter(caffenet, out, options, force=force)

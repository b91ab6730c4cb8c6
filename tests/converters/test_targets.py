"""warn_non_finite: one cheap pass over finite blobs, an exact count for the rest."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest

from senet_proto.caffe import caffe_pb2
from senet_proto.converters.loader import CaffeNet
from senet_proto.converters.targets import warn_non_finite
from senet_proto.errors import UsageError

BIG = np.finfo(np.float32).max


@pytest.mark.parametrize(("values", "counts"), [
    ([1.0, 2.0, 3.0], None),
    ([], None),
    ([1.0, np.nan, 2.0], [1]),
    ([np.inf, 1.0, -np.inf], [2]),  # inf + -inf sums to NaN: still caught
    ([-np.inf], [1]),
    ([BIG, BIG, BIG, -1.0], None),  # finite values whose float32 sum overflows: the exact count clears them
    ([BIG, np.nan, BIG], [1]),
])
def test_non_finite_blobs_are_counted_exactly(values: list[float], counts: list[int] | None,
                                              caplog: pytest.LogCaptureFixture) -> None:
    blob = np.array(values, np.float32)
    with np.errstate(over="ignore"):
        assert not np.isfinite(np.array([BIG, BIG], np.float32).sum()), "the overflow case no longer overflows"
    caffenet = CaffeNet(net=caffe_pb2.NetParameter(), weights={"conv": [blob, np.ones(3, np.float32)]})
    with caplog.at_level(logging.WARNING, logger="senet_proto.convert"), warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning from the overflowing sums reaches the user
        bad = warn_non_finite(caffenet)
    assert bad == (1 if counts else 0)
    if counts:
        assert f"layer 'conv' has non-finite weights (NaN or inf: {[*counts, 0]} per blob)" in caplog.text
    else:
        assert not caplog.records


@pytest.mark.parametrize(("out", "target", "expected"), [
    ("m.onnx", None, "onnx"),
    ("m.safetensors", None, "pytorch"),
    ("M.SafeTensors", "timm", "timm"),
    ("model.bin", "onnx", "onnx"),  # a name no kind claims: --to decides
])
def test_target_for_output(out: str, target: str | None, expected: str) -> None:
    from senet_proto.converters.targets import target_for_output

    assert target_for_output(out, target) == expected


def test_a_directory_output_means_the_timm_folder_target(tmp_path, monkeypatch) -> None:
    from senet_proto.converters import targets

    for out in (str(tmp_path), "new-folder/"):
        if "timm-dir" not in targets.TARGETS:
            with pytest.raises(UsageError, match="the target 'timm-dir', which this version of senet-proto lacks"):
                targets.target_for_output(out)
        monkeypatch.setitem(targets.TARGETS, "timm-dir", "senet_proto.converters.timm:export_timm")
        assert targets.target_for_output(out) == "timm-dir"
        monkeypatch.undo()

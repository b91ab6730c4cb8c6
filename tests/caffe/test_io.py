"""Reading and writing Caffe files: clear errors for bad input, round trips, fuzzing."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from senet_proto.caffe import caffe_pb2, format_prototxt, parse_prototxt, read_caffemodel_proto, read_prototxt
from senet_proto.errors import CaffemodelError, PrototxtError

SMALL = """name: "tiny"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
        convolution_param { num_output: 4 kernel_size: 3 pad: 1 } }
"""


def test_parse_and_format_round_trip() -> None:
    net = parse_prototxt(SMALL)
    assert net.name == "tiny" and [ly.type for ly in net.layer] == ["Input", "Convolution"]
    text = format_prototxt(net, header="# mean_value: 104, 117, 123")
    assert text.startswith("# mean_value: 104, 117, 123\nname: \"tiny\"\n")
    assert parse_prototxt(text) == net


@pytest.mark.parametrize(
    ("text", "line", "col", "words"),
    [
        ('name: "x"\nlayer { nme: 1 }', 2, 9, "no field named \"nme\""),
        ('name: "x"\nlayer {\n  name: "a"\n', 3, 9, 'Expected "}"'),
        ('layer { type: "ReLU" convolution_param { num_output: -3 } }', 1, 54, "out of range: -3"),
        ('layer { convolution_param { pad: 1.5 } }', 1, 34, "integer: 1.5"),
        ('name: "x"\n\nlayer { name: "a" top: }', 3, 24, "string"),
    ],
)
def test_syntax_errors_name_line_and_column(text: str, line: int, col: int, words: str) -> None:
    with pytest.raises(PrototxtError) as info:
        parse_prototxt(text, source="net.prototxt")
    msg = str(info.value)
    assert msg.startswith(f"net.prototxt:{line}:{col}: "), msg
    assert words in msg
    assert "'layer" not in msg, "the offending line should not be repeated in the message"
    assert "\n" not in msg


@pytest.mark.parametrize(
    ("content", "words"),
    [(b"", "empty"), (b"   \n\t\n", "empty"), (b"\xff\xfe\x00n", "not UTF-8")],
)
def test_unreadable_prototxt_content(tmp_path: Path, content: bytes, words: str) -> None:
    p = tmp_path / "bad.prototxt"
    p.write_bytes(content)
    with pytest.raises(PrototxtError, match=words):
        read_prototxt(p)


def test_bom_is_tolerated_on_input() -> None:
    assert parse_prototxt("\ufeff" + SMALL).name == "tiny"


def test_paths_that_are_not_files(tmp_path: Path) -> None:
    with pytest.raises(PrototxtError, match="is a directory"):
        read_prototxt(tmp_path)
    with pytest.raises(PrototxtError, match="no such file"):
        read_prototxt(tmp_path / "missing.prototxt")
    with pytest.raises(CaffemodelError, match="is a directory"):
        read_caffemodel_proto(tmp_path)


def _small_caffemodel() -> bytes:
    net = parse_prototxt(SMALL)
    blob = net.layer[1].blobs.add()
    blob.shape.dim.extend([4, 3, 3, 3])
    blob.data.extend([0.5] * 108)
    return net.SerializeToString()


def test_caffemodel_round_trip_and_truncation(tmp_path: Path) -> None:
    data = _small_caffemodel()
    good = tmp_path / "good.caffemodel"
    good.write_bytes(data)
    net = read_caffemodel_proto(good)
    assert list(net.layer[1].blobs[0].shape.dim) == [4, 3, 3, 3]
    bad = tmp_path / "trunc.caffemodel"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(CaffemodelError, match="not a valid caffemodel"):
        read_caffemodel_proto(bad)
    empty = tmp_path / "empty.caffemodel"
    empty.write_bytes(b"")
    with pytest.raises(CaffemodelError, match="empty"):
        read_caffemodel_proto(empty)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.sampled_from(list('layer{}name:type"ReLU bottom top 0123456789.-+e\n#;,[]<>\\\'')),
               max_size=200))
def test_fuzz_prototxt_parser_raises_only_project_errors(text: str) -> None:
    try:
        parse_prototxt(text)
    except PrototxtError as e:
        assert "\n" not in str(e)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_caffemodel_reader_raises_only_project_errors(tmp_path_factory: pytest.TempPathFactory,
                                                           data: bytes) -> None:
    p = tmp_path_factory.mktemp("fuzz") / "x.caffemodel"
    p.write_bytes(data)
    with contextlib.suppress(CaffemodelError):
        read_caffemodel_proto(p)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_fuzz_bitflipped_caffemodel(tmp_path_factory: pytest.TempPathFactory, data: st.DataObject) -> None:
    raw = bytearray(_small_caffemodel())
    for _ in range(data.draw(st.integers(1, 8))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] ^= 1 << data.draw(st.integers(0, 7))
    p = tmp_path_factory.mktemp("flip") / "x.caffemodel"
    p.write_bytes(bytes(raw))
    try:
        net = read_caffemodel_proto(p)
    except CaffemodelError:
        return
    assert isinstance(net, caffe_pb2.NetParameter)


def test_deeply_nested_prototxt_is_a_clear_error() -> None:
    text = "layer { include { " * 2000
    with pytest.raises(PrototxtError):
        parse_prototxt(text)

"""The schema: the committed caffe_pb2.py is fresh, and caffe.proto equals Caffe's own descriptor."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
from google.protobuf import descriptor_pb2

from senet_proto.caffe import caffe_pb2
from senet_proto.reference.root import enter_command

REPO = Path(__file__).resolve().parents[2]


def test_generated_module_is_fresh(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("gen_proto", REPO / "tools" / "gen_proto.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    fresh = mod.generate(tmp_path)
    committed = REPO / "senet_proto" / "caffe" / "caffe_pb2.py"
    assert fresh.read_text() == committed.read_text(), "caffe_pb2.py is stale: run python tools/gen_proto.py"


def _default(f: descriptor_pb2.FieldDescriptorProto) -> object:
    """A field's default; protoc versions print float defaults differently, so compare them as float32."""
    if not f.HasField("default_value"):
        return None
    if f.type in (f.TYPE_FLOAT, f.TYPE_DOUBLE):
        return float(np.float32(float(f.default_value)))
    return f.default_value


def _flatten(fdp: descriptor_pb2.FileDescriptorProto) -> dict[str, object]:
    """Every message/enum as a comparable record: field name -> (number, label, type, type_name, default)."""
    out: dict[str, object] = {}

    def enum(prefix: str, e: descriptor_pb2.EnumDescriptorProto) -> None:
        out[f"enum {prefix}{e.name}"] = {v.name: v.number for v in e.value}

    def msg(prefix: str, m: descriptor_pb2.DescriptorProto) -> None:
        name = f"{prefix}{m.name}"
        out[f"message {name}"] = {
            f.name: (
                f.number,
                f.label,
                f.type,
                f.type_name,
                _default(f),
                f.options.packed if f.options.HasField("packed") else None,
            )
            for f in m.field
        }
        for e in m.enum_type:
            enum(name + ".", e)
        for n in m.nested_type:
            msg(name + ".", n)

    for e in fdp.enum_type:
        enum("", e)
    for m in fdp.message_type:
        msg("", m)
    return out


def test_schema_equals_debian_caffe_descriptor(caffe_root: Path) -> None:
    code = "import sys; from caffe.proto import caffe_pb2; sys.stdout.buffer.write(caffe_pb2.DESCRIPTOR.serialized_pb)"
    proc = subprocess.run([*enter_command(caffe_root), "python3", "-c", code], capture_output=True, check=True)
    theirs = _flatten(descriptor_pb2.FileDescriptorProto.FromString(proc.stdout))
    ours_fdp = descriptor_pb2.FileDescriptorProto()
    caffe_pb2.DESCRIPTOR.CopyToProto(ours_fdp)
    ours = _flatten(ours_fdp)
    assert ours_fdp.package == "caffe"
    assert sorted(ours) == sorted(theirs), "message/enum sets differ"
    diffs = [f"{k}: ours {ours[k]} != caffe {theirs[k]}" for k in theirs if ours[k] != theirs[k]]
    assert not diffs, "\n".join(diffs)
    assert len(theirs) > 60 and "message V1LayerParameter" in theirs, sys.version

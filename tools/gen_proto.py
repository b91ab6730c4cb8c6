"""Regenerate senet_proto/caffe/caffe_pb2.py from caffe.proto with grpcio-tools' protoc.

Usage: python tools/gen_proto.py [OUT_DIR]   (default: senet_proto/caffe)
tests/caffe/test_schema.py runs this into a temporary directory and fails if the
committed module differs.
"""

from __future__ import annotations

import sys
from pathlib import Path

from grpc_tools import protoc

HERE = Path(__file__).resolve().parent.parent / "senet_proto" / "caffe"


def generate(out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    rc = protoc.main(["protoc", f"-I{HERE}", f"--python_out={out_dir}", str(HERE / "caffe.proto")])
    if rc != 0:
        raise SystemExit(f"protoc failed with exit code {rc}")
    return out_dir / "caffe_pb2.py"


if __name__ == "__main__":
    print(generate(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE))

#!/usr/bin/env bash
# What travels to a bare GPU machine besides the checkout (bench/README.md, "GPU check"): a protobuf wheel for
# its Python (3.12 by default) at this checkout's protobuf version, in bench/.wheels/ (ignored by git), for
# gpu_check.py to use when the machine's own protobuf is older than the generated caffe_pb2 needs.
#   bash bench/gpu_prepare.sh [PYTHON_VERSION]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
ver=$("$PY" -c "import google.protobuf; print(google.protobuf.__version__)")
"$PY" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
  --python-version "${1:-3.12}" --platform manylinux2014_x86_64 -d bench/.wheels "protobuf==$ver"
ls -l bench/.wheels

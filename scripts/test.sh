#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian machine, then run all of it.
#   bash scripts/test.sh [pytest args]
# System packages (via apt; sudo when not root): debootstrap (the Caffe 1.0 reference root, as root),
# mmdebstrap + uidmap (the same root without root), graphviz (senet-proto draw), chromium (the browser test
# of the Netron view).
# Python: a venv in .venv with the project and its test extras.
# The Debian 11 Caffe root is created in ~/.cache/senet-proto (as root with debootstrap, otherwise with
# mmdebstrap --mode=unshare, no sudo) and reused.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || need+=(debootstrap)
command -v mmdebstrap >/dev/null 2>&1 || need+=(mmdebstrap)
command -v newuidmap >/dev/null 2>&1 || [ -x /usr/bin/newuidmap ] || need+=(uidmap)
[ -e /usr/share/keyrings/debian-archive-keyring.gpg ] || need+=(debian-archive-keyring)
command -v dot >/dev/null 2>&1 || need+=(graphviz)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ "${#need[@]}" -gt 0 ]; then
  echo "test.sh: installing Debian packages: ${need[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# the suite's temporary files and weights cache need about 5 GB: say so up front, not as a write error later
free_gb=$(df -Pk "${TMPDIR:-/tmp}" | awk 'NR == 2 { print int($4 / 1048576) }')
[ "${free_gb:-0}" -ge 5 ] || echo "test.sh: warning: ${free_gb} GB free in ${TMPDIR:-/tmp}; the suite needs about 5 GB" >&2

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# torch/torchvision pinned: timm needs a torchvision that imports beside its torch.
.venv/bin/python -m pip install -q --disable-pip-version-check \
  torch==2.14.1 torchvision==0.29.1 '.[all,test]'

if [ "${SENET_PROTO_SKIP_CAFFE:-0}" != 1 ]; then  # the Caffe root, as this user (one line if it cannot be made)
  .venv/bin/python -c 'import sys
from senet_proto.errors import SenetProtoError
from senet_proto.reference.root import ensure_root
try:
    ensure_root()
except SenetProtoError as e:
    sys.exit(f"test.sh: {e}")'
fi

.venv/bin/ruff check senet_proto tests tools bench
.venv/bin/mypy
.venv/bin/python -m pytest -n "${SENET_PROTO_TEST_WORKERS:-2}" "$@"

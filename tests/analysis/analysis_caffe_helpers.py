"""Ask the real Caffe 1.0 (in the Debian 11 root) for the blob and parameter shapes of a batch of nets, in one run."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from senet_proto.caffe import caffe_pb2, format_prototxt

SCRIPT = r"""
import json, os, sys
os.environ["GLOG_minloglevel"] = "2"
import caffe
caffe.set_mode_cpu()
out = {}
for path in sys.argv[1:]:
    net = caffe.Net(path, caffe.TEST)
    out[os.path.basename(path)] = {
        "blobs": {name: list(blob.data.shape) for name, blob in net.blobs.items()},
        "params": {name: [list(b.data.shape) for b in blobs] for name, blobs in net.params.items()}}
    sys.stdout.flush()
print(json.dumps(out))
"""


Shapes = dict[str, tuple[int, ...]]
Params = dict[str, list[tuple[int, ...]]]


def caffe_net_shapes(root: Path, nets: dict[str, caffe_pb2.NetParameter]) -> dict[str, tuple[Shapes, Params]]:
    """name -> ({blob: shape}, {layer: its parameter blobs' shapes}) as Caffe's ``Net.blobs`` and ``Net.params``
    report after loading each net in TEST phase."""
    tmp = Path(tempfile.mkdtemp(prefix="senet-view-shapes-", dir=root / "tmp"))
    try:
        inside = Path("/tmp") / tmp.name
        (tmp / "run.py").write_text(SCRIPT)
        paths = []
        for name, net in nets.items():
            (tmp / f"{name}.prototxt").write_text(format_prototxt(net))
            paths.append(str(inside / f"{name}.prototxt"))
        proc = subprocess.run(["chroot", str(root), "python3", str(inside / "run.py"), *paths],
                              capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            raise AssertionError(f"Caffe failed (rc {proc.returncode}):\n{proc.stderr[-3000:]}")
        raw = json.loads(proc.stdout.strip().splitlines()[-1])
        return {k.removesuffix(".prototxt"): ({b: tuple(s) for b, s in v["blobs"].items()},
                                             {n: [tuple(s) for s in p] for n, p in v["params"].items()})
                for k, v in raw.items()}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def caffe_load_failure(root: Path, net: caffe_pb2.NetParameter) -> str:
    """Caffe's error output when loading ``net`` fails; AssertionError if Caffe accepts it."""
    try:
        caffe_net_shapes(root, {"net": net})
    except AssertionError as e:
        return str(e)
    raise AssertionError("Caffe accepted the net")

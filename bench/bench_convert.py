"""Conversion and inference benchmark: ratios against a floor and a peer, measured in one run.

    python bench/bench_convert.py                 # SENet-154 conversion (Caffe-made weights, cached)
    python bench/bench_convert.py --arch se-resnet-50 --skip-inference
    python bench/bench_convert.py --inference-arch se-resnet-50 --repeats 5

Conversion (each case in its own subprocess, so peak RSS is that case's alone; each writes a new file after an
os.sync(), so that no case pays for the writeback of the one before; rounds interleave the cases in rotating order):
  floor   read the caffemodel and write the same number of bytes
  anchor  the obvious approach: protobuf ParseFromString, then np.array(blob.data) per blob
  pytorch senet-proto convert --to pytorch
  onnx    senet-proto convert --to onnx (both also with --fuse-bn)
Inference: the converted PyTorch module (plain and --fuse-bn; each also after optimize_for_inference(), CPU)
vs timm's legacy module with the same weights, batch 1 and 32 at 224x224, and ONNX Runtime on the exported
model. Not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _timing import best_times

REPO = Path(__file__).resolve().parent.parent

FLOOR = """
import os, sys
src, dst, sync = sys.argv[1], sys.argv[2], sys.argv[3] == "fsync"
with open(src, "rb") as f, open(dst, "wb") as g:
    while True:
        chunk = f.read(1 << 24)
        if not chunk:
            break
        g.write(chunk)
    if sync:
        g.flush()
        os.fsync(g.fileno())
"""

ANCHOR = """
import sys
import numpy as np
from senet_proto.caffe import caffe_pb2
net = caffe_pb2.NetParameter()
with open(sys.argv[1], "rb") as f:
    net.ParseFromString(f.read())
arrays = [np.array(b.data) for ly in net.layer for b in ly.blobs]  # float32 (upb protobuf)
print(sum(a.size for a in arrays))
"""


def run_case(argv: list[str]) -> tuple[float, float]:
    """Wall time (s) and peak RSS (MiB) of one subprocess."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ,
                                                                                          "PYTHONPATH": str(REPO)})
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{argv[:4]} failed: {proc.stderr.read().decode()[-500:] if proc.stderr else ''}")
    return elapsed, usage.ru_maxrss / 1024


def conversion(arch: str, repeats: int) -> None:
    from senet_proto.caffe import format_prototxt
    from senet_proto.generator import generate
    from senet_proto.reference import cached_weights

    net = generate(arch)
    print(f"making/reading cached Caffe weights of {arch} ...", flush=True)
    model = cached_weights(net, seed=0)
    size_mib = model.stat().st_size / 2**20
    with tempfile.TemporaryDirectory() as tmp:
        proto = Path(tmp) / "net.prototxt"
        proto.write_text(format_prototxt(net))
        py = sys.executable
        cli = [py, "-m", "senet_proto", "convert", str(proto), str(model), "-q"]
        cases = {
            "floor (read + write)": [py, "-c", FLOOR, str(model), str(Path(tmp) / "copy.bin"), "nosync"],
            # senet-proto's outputs are fsync'ed before the atomic rename: the fair floor for them
            "floor + fsync": [py, "-c", FLOOR, str(model), str(Path(tmp) / "copy2.bin"), "fsync"],
            "anchor (protobuf + np.array)": [py, "-c", ANCHOR, str(model)],
            "convert --to pytorch": [*cli, "--to", "pytorch", "-o", str(Path(tmp) / "m.safetensors")],
            "convert --to onnx": [*cli, "--to", "onnx", "-o", str(Path(tmp) / "m.onnx")],
            "convert --to pytorch --fuse-bn": [*cli, "--to", "pytorch", "--fuse-bn", "-o",
                                               str(Path(tmp) / "f.safetensors")],
            "convert --to onnx --fuse-bn": [*cli, "--to", "onnx", "--fuse-bn", "-o", str(Path(tmp) / "f.onnx")],
        }
        # interleaved rounds (every case once per round), so a change in machine load hits all cases alike
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
        names = list(cases)
        for r in range(repeats):
            # each case writes a new file (as `convert` without --force does): the last round's outputs go first
            # (deleting on a filesystem mounted with `discard` slows the next writes: the order rotates, so the
            # case right after the deletions differs each round); os.sync() before each case, so none pays for
            # the writeback of the one before (the plain floor leaves its whole copy to the kernel)
            for out in Path(tmp).iterdir():
                if out.name != "net.prototxt":
                    out.unlink()
            for name in names[r % len(names):] + names[:r % len(names)]:
                os.sync()
                runs[name].append(run_case(cases[name]))
        results = {name: min(r, key=lambda x: x[0]) for name, r in runs.items()}
    floor = results["floor (read + write)"][0]
    floor_sync = results["floor + fsync"][0]
    anchor = results["anchor (protobuf + np.array)"][0]
    print(f"\nconversion of {arch}: caffemodel {size_mib:.1f} MiB, best of {repeats}")
    print(f"{'case':<32} {'time s':>8} {'/floor':>7} {'/floor+fsync':>13} {'anchor/x':>9} {'peak RSS MiB':>13} "
          f"{'/file':>6}")
    for name, (t, rss) in results.items():
        print(f"{name:<32} {t:>8.2f} {t / floor:>7.2f} {t / floor_sync:>13.2f} {anchor / t:>9.2f} {rss:>13.0f} "
              f"{rss / size_mib:>6.2f}")


def _best(torch, device: str, repeats: int, fn, x) -> float:
    """Best wall time of fn(x) over ``repeats`` runs after one warm-up."""
    with torch.no_grad():
        return best_times({"fn": lambda: fn(x)}, repeats, torch.cuda.synchronize if device == "cuda" else None)["fn"]


def inference(arch: str, repeats: int, batches: list[int]) -> None:
    import numpy as np
    import onnxruntime as ort
    import timm
    import torch

    from senet_proto.converters import load_caffe
    from senet_proto.converters.onnx import build_onnx
    from senet_proto.converters.pytorch import build_module
    from senet_proto.converters.timm import infer_timm_model, to_timm_state_dict
    from senet_proto.generator import generate
    from senet_proto.reference import cached_weights

    net = generate(arch)
    caffenet = load_caffe(net, cached_weights(net, seed=0))
    name = infer_timm_model(caffenet)
    ref = timm.create_model(name, pretrained=False).eval()
    ref.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in to_timm_state_dict(caffenet).items()})
    ours = build_module(caffenet).eval()
    fused = build_module(caffenet, fuse_bn=True).eval()
    ours_opt = build_module(caffenet).optimize_for_inference()  # prepacked oneDNN convolutions (CPU)
    fused_opt = build_module(caffenet, fuse_bn=True).optimize_for_inference()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"\ninference of {arch} (timm {name}), torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"best of {repeats}")
    print(f"{'device':<6} {'batch':>5} {'timm s':>8} {'ours/timm':>9} {'fused/timm':>10} {'ours+opt/timm':>13} "
          f"{'fused+opt/timm':>14} {'onnxrt s':>9} {'ort/timm':>8}")
    for device in devices:
        for n in batches:
            x = torch.from_numpy(np.random.default_rng(0).normal(0, 50, (n, 3, 224, 224)).astype(np.float32))
            xd = x.to(device)

            t_ref = _best(torch, device, repeats, ref.to(device), xd)
            t_ours = _best(torch, device, repeats, ours.to(device), xd)
            t_fused = _best(torch, device, repeats, fused.to(device), xd)
            t_ort = t_ours_opt = t_fused_opt = float("nan")
            if device == "cpu":  # optimize_for_inference changes nothing on other devices
                t_ours_opt = _best(torch, device, repeats, ours_opt, xd)
                t_fused_opt = _best(torch, device, repeats, fused_opt, xd)
                model = build_onnx(caffenet, input_shape=(n, 3, 224, 224))
                sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
                xn = x.numpy()
                t_ort = _best(torch, device, repeats, lambda _x, s=sess, a=xn: s.run(None, {"data": a}), None)
            print(f"{device:<6} {n:>5} {t_ref:>8.3f} {t_ours / t_ref:>9.3f} {t_fused / t_ref:>10.3f} "
                  f"{t_ours_opt / t_ref:>13.3f} {t_fused_opt / t_ref:>14.3f} {t_ort:>9.3f} {t_ort / t_ref:>8.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="senet-154", help="conversion benchmark architecture")
    ap.add_argument("--inference-arch", default="se-resnet-50")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batches", default="1,32")
    ap.add_argument("--threads", type=int, default=0, help="torch/ORT intra-op threads (0: their default)")
    ap.add_argument("--skip-conversion", action="store_true")
    ap.add_argument("--skip-inference", action="store_true")
    args = ap.parse_args()
    sys.path.insert(0, str(REPO))
    print(f"senet-proto benchmark, {datetime.date.today()}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, {resource.getpagesize()}-byte pages, Python {platform.python_version()}")
    if not args.skip_conversion:
        conversion(args.arch, args.repeats)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    if not args.skip_inference:
        inference(args.inference_arch, args.repeats, [int(b) for b in args.batches.split(",")])


if __name__ == "__main__":
    main()

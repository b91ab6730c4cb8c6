"""GPU proof in one prepared run: equivalence on the device, speed beside timm, ONNX Runtime.

    python bench/gpu_check.py OUTDIR [--device cuda|cpu] [--quick]
    python bench/gpu_check.py --make-reference        # here, with real Caffe: bench/gpu_reference/

Writes OUTDIR/report.md (tables a person reads) and OUTDIR/report.json:
  equivalence  each of the seven architectures: the converted module on the device vs on the CPU (float32,
               TF32 off), error on the pre-softmax scores relative to their largest magnitude (bound 1e-5);
               timm's legacy model with the same weights on the device beside it; one net (SE-ResNet-50)
               also against the blobs a real Caffe 1.0 computed here (bench/gpu_reference/, committed)
  speed        time per batch and images/s of the converted module: plain, BatchNorm folded (--fuse-bn),
               channels_last, bf16 autocast (with its error), torch.compile, CUDA graphs, each beside timm's
               legacy model with the same weights on the same device
  onnx         the exported ONNX model through ONNX Runtime's CUDA provider when it is there, else a line
               saying so and the CPU provider
Weights need no Caffe: random blobs from a seed, every BatchNorm calibrated in network order in float64 on
the CPU (activations of order one), the same bits on any machine. ``--device cpu --quick`` runs the same code
paths on a CPU in about a minute (the test suite does; small inputs and batches). Needs only what a bare
GPU machine has (torch, timm, onnx, onnxruntime, numpy, protobuf, click, tqdm) plus this checkout; a protobuf
runtime older than the generated caffe_pb2 needs is replaced from a wheel in bench/.wheels/ (see README).
Not a test: nothing here asserts; the report says pass or fail per row.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
REFERENCE_DIR = Path(__file__).resolve().parent / "gpu_reference"
WHEELS = Path(__file__).resolve().parent / ".wheels"
REFERENCE_ARCH = "se-resnet-50"
REFERENCE_SHAPE = (2, 3, 224, 224)
EQUIV_BOUND = 1e-5  # device vs CPU, float32 with TF32 off
CAFFE_BOUND = 1e-4  # vs real Caffe on the scores (verify's default)


def _ensure_protobuf() -> None:
    """Import the generated caffe_pb2; with a too-old protobuf runtime, re-run on a carried wheel's protobuf."""
    try:
        from senet_proto.caffe import caffe_pb2  # noqa: F401
        return
    except Exception as e:  # the runtime version check raises various types across protobuf releases
        if os.environ.get("SENET_PROTO_GPU_CHECK_REEXEC") == "1":
            raise SystemExit(f"gpu_check: the carried wheel did not help either: {e}") from e
        wheels = sorted(WHEELS.glob("protobuf-*.whl"))
        if not wheels:
            raise SystemExit(f"gpu_check: the installed protobuf cannot load caffe_pb2 ({e}); "
                             "run bench/gpu_prepare.sh to carry a wheel in bench/.wheels/") from None
        target = Path(tempfile.mkdtemp(prefix="gpu-check-pb-"))
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--target",
                        str(target), str(wheels[-1])], check=True)
        env = {**os.environ, "SENET_PROTO_GPU_CHECK_REEXEC": "1",
               "PYTHONPATH": os.pathsep.join([str(target), str(REPO), os.environ.get("PYTHONPATH", "")])}
        print(f"gpu_check: protobuf runtime too old for caffe_pb2 ({e}); using {wheels[-1].name}", flush=True)
        os.execve(sys.executable, [sys.executable, *sys.argv], env)


sys.path.insert(0, str(REPO))  # this checkout's senet_proto, installed or not
sys.path.insert(0, str(Path(__file__).resolve().parent))
if __name__ == "__main__":
    _ensure_protobuf()

import numpy as np  # noqa: E402
from _random_net import INPUT_STD, SEED, seeded_caffenet  # noqa: E402  (bench/, on sys.path)

# --- weights from a seed ---------------------------------------------------------------------------------------


def fingerprint(caffenet) -> dict[str, Any]:
    """SHA-256 of every blob's bytes in layer order, and the float64 sum of their magnitudes."""
    h = hashlib.sha256()
    total = 0.0
    for name in sorted(caffenet.weights):
        for b in caffenet.weights[name]:
            a = np.ascontiguousarray(b, dtype="<f4")
            h.update(name.encode())
            h.update(a.tobytes())
            total += float(np.abs(a.astype(np.float64)).sum())
    return {"sha256": h.hexdigest(), "abs_sum": total}


def make_input(shape: tuple[int, ...], seed: int = SEED + 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, INPUT_STD, shape).astype(np.float32)


def rel_err(ours: np.ndarray, ref: np.ndarray) -> float:
    ref64 = ref.astype(np.float64)
    denom = float(np.max(np.abs(ref64)))
    return float(np.max(np.abs(ours.astype(np.float64) - ref64)) / denom) if denom > 0 else float("inf")


# --- models ----------------------------------------------------------------------------------------------------


def score_blob(caffenet) -> str:
    from senet_proto.converters.graph import build_graph
    from senet_proto.verify import score_blobs

    graph = build_graph(caffenet)
    blobs = score_blobs(caffenet.net, graph.outputs)
    (name,) = sorted(blobs)
    return name


def scores(module, x: np.ndarray, device: str, blob: str) -> np.ndarray:
    import torch

    with torch.no_grad():
        out = module.forward_blobs(torch.from_numpy(x).to(device))[blob]
    return out.detach().float().cpu().numpy()


def timm_model(caffenet, device: str):
    """timm's legacy model with the same weights (None for SE-BN-Inception, which timm lacks). Built on the meta
    device and given the weights as they are (no time spent on a random initialisation)."""
    import timm
    import torch

    from senet_proto.converters.timm import infer_timm_model, to_timm_state_dict
    from senet_proto.errors import SenetProtoError

    try:
        name = infer_timm_model(caffenet)
    except SenetProtoError:
        return None, None
    sd = to_timm_state_dict(caffenet)
    num_classes = int(sd["last_linear.weight"].shape[0])
    with torch.device("meta"):
        model = timm.create_model(name, pretrained=False, num_classes=num_classes)
    model.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in sd.items()}, strict=True, assign=True)
    return name, model.eval().to(device)


# --- sections --------------------------------------------------------------------------------------------------


def equivalence(archs: tuple[str, ...], shape: tuple[int, int, int, int], device: str, log) -> list[dict[str, Any]]:
    import torch

    from senet_proto.converters.pytorch import build_module

    rows = []
    for arch in archs:
        t0 = time.perf_counter()
        caffenet = seeded_caffenet(arch, shape)
        blob = score_blob(caffenet)
        x = make_input(shape)
        dev_module = build_module(caffenet)
        ref = scores(dev_module, x, "cpu", blob)
        ours = scores(dev_module.to(device), x, device, blob)
        row: dict[str, Any] = {"arch": arch, "input": list(shape), "scores_blob": blob,
                               "device_vs_cpu": rel_err(ours, ref), "bound": EQUIV_BOUND,
                               "score_scale": float(np.max(np.abs(ref)))}
        name, tm = timm_model(caffenet, device)
        row["timm_model"] = name
        if tm is not None:
            with torch.no_grad():
                row["timm_vs_cpu"] = rel_err(tm(torch.from_numpy(x).to(device)).float().cpu().numpy(), ref)
        row["ok"] = bool(row["device_vs_cpu"] <= EQUIV_BOUND)
        row["seconds"] = time.perf_counter() - t0
        log(f"  {arch}: device vs CPU {row['device_vs_cpu']:.2e}"
            + (f", timm vs CPU {row['timm_vs_cpu']:.2e}" if "timm_vs_cpu" in row else "")
            + f" ({row['seconds']:.1f} s)")
        rows.append(row)
        del dev_module, tm
        if device == "cuda":
            torch.cuda.empty_cache()
    return rows


def reference_path(arch: str = REFERENCE_ARCH) -> Path:
    return REFERENCE_DIR / f"{arch}.npz"


def make_reference(arch: str = REFERENCE_ARCH, shape: tuple[int, int, int, int] = REFERENCE_SHAPE,
                   out: Path | None = None) -> Path:
    """Run real Caffe here on the seeded weights; save its scores and probabilities with the weights' fingerprint."""
    from senet_proto.converters.graph import build_graph
    from senet_proto.export.caffemodel import write_caffemodel
    from senet_proto.reference import forward

    caffenet = seeded_caffenet(arch, shape)
    blob = score_blob(caffenet)
    x = make_input(shape)
    out = out or reference_path(arch)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "w.caffemodel"
        with model.open("wb") as f:
            write_caffemodel(f, caffenet.net.name, ((ly.name, ly.type, caffenet.weights[ly.name])
                                                    for ly in caffenet.layers() if ly.name in caffenet.weights))
        graph = build_graph(caffenet)
        (inp,) = graph.inputs
        blobs = forward(caffenet.net, model, {inp: x})
    outputs = graph.outputs
    np.savez_compressed(out, input=x, scores=blobs[blob], outputs=np.array(outputs),
                        **{f"out_{i}": blobs[o] for i, o in enumerate(outputs)},
                        fingerprint=np.array(json.dumps(fingerprint(caffenet))), blob=np.array(blob),
                        shape=np.array(shape))
    return out


def caffe_check(device: str, log) -> dict[str, Any]:
    import torch

    from senet_proto.converters.pytorch import build_module

    path = reference_path()
    if not path.is_file():
        return {"ok": False, "error": f"{path} is missing (make it with --make-reference where Caffe runs)"}
    ref = np.load(path)
    shape = tuple(int(d) for d in ref["shape"])
    caffenet = seeded_caffenet(REFERENCE_ARCH, shape)  # type: ignore[arg-type]
    fp, fp_ref = fingerprint(caffenet), json.loads(str(ref["fingerprint"]))
    blob = str(ref["blob"])
    module = build_module(caffenet).to(device)
    with torch.no_grad():
        blobs = module.forward_blobs(torch.from_numpy(ref["input"]).to(device))
    err = rel_err(blobs[blob].float().cpu().numpy(), ref["scores"])
    outs = [str(o) for o in ref["outputs"]]
    out_err = max(rel_err(blobs[o].float().cpu().numpy(), ref[f"out_{i}"]) for i, o in enumerate(outs))
    same = fp["sha256"] == fp_ref["sha256"]
    row = {"arch": REFERENCE_ARCH, "input": list(shape), "scores_vs_caffe": err, "outputs_vs_caffe": out_err,
           "bound": CAFFE_BOUND, "weights_identical": same,
           "weights_abs_sum_rel_diff": abs(fp["abs_sum"] - fp_ref["abs_sum"]) / fp_ref["abs_sum"],
           "ok": bool(err <= CAFFE_BOUND and out_err <= 1e-3)}
    log(f"  {REFERENCE_ARCH} on {device} vs real Caffe: scores {err:.2e}, outputs {out_err:.2e}"
        f" (weights {'identical' if same else 'not bit-identical'} to the reference's)")
    return row


def _variants(caffenet, device: str, timm_mod, compile_backend: str | None, allow_graphs: bool) -> dict[str, Any]:
    import torch

    from senet_proto.converters.pytorch import build_module

    cl = torch.channels_last
    ours = build_module(caffenet).to(device)
    v: dict[str, Any] = {
        "plain": (ours, timm_mod, None, None),
        "fuse-bn": (build_module(caffenet, fuse_bn=True).to(device), timm_mod, None, None),
        "channels_last": (build_module(caffenet).to(device, memory_format=cl),
                          timm_mod and _copy(timm_mod).to(memory_format=cl), cl, None),
        "bf16 autocast": (ours, timm_mod, None, torch.bfloat16),
    }
    if compile_backend:
        v["torch.compile"] = (torch.compile(build_module(caffenet).to(device), backend=compile_backend),
                              timm_mod and torch.compile(_copy(timm_mod), backend=compile_backend), None, None)
    if allow_graphs:
        v["CUDA graphs"] = (ours, timm_mod, None, "graphs")
    return v


def _copy(model):
    import copy

    return copy.deepcopy(model)


def _runner(model, x, mode) -> Callable[[], Any]:
    import torch

    if mode == "graphs":
        static = x.clone()
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.no_grad(), torch.cuda.stream(stream):
            for _ in range(3):  # warm up on a side stream, as CUDA graph capture requires
                model(static)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.no_grad(), torch.cuda.graph(graph):
            out = model(static)  # noqa: F841  (kept alive by the graph's memory pool)
        return graph.replay
    if isinstance(mode, torch.dtype):
        def run_autocast() -> Any:
            with torch.no_grad(), torch.autocast(x.device.type, dtype=mode):
                return model(x)
        return run_autocast

    def run() -> Any:
        with torch.no_grad():
            return model(x)
    return run


def speed(arch: str, shape_hw: tuple[int, int], batches: tuple[int, ...], device: str, iters: int,
          compile_backend: str | None, compile_batch: int, log) -> list[dict[str, Any]]:
    """Each variant at each batch; torch.compile at ``compile_batch`` only (each batch size compiles anew)."""
    import torch
    from _timing import best_times

    caffenet = seeded_caffenet(arch, (1, 3, *shape_hw))
    _, timm_mod = timm_model(caffenet, device)
    variants = _variants(caffenet, device, timm_mod, compile_backend, device == "cuda")
    sync = torch.cuda.synchronize if device == "cuda" else None
    blob = score_blob(caffenet)
    rows = []
    for batch in batches:
        x_np = make_input((batch, 3, *shape_hw))
        x32 = torch.from_numpy(x_np).to(device)
        ref = scores(variants["plain"][0], x_np, device, blob)
        for name, (ours, tm, fmt, mode) in variants.items():
            if name == "torch.compile" and batch != compile_batch:
                continue
            x = x32.contiguous(memory_format=fmt) if fmt is not None else x32
            calls = {"ours": _runner(ours, x, mode)}
            if tm is not None:
                calls["timm"] = _runner(tm, x, mode)
            try:
                best = best_times(calls, iters, sync)
            except Exception as e:  # one variant failing (e.g. a compiler missing) must not hide the others
                rows.append({"arch": arch, "batch": batch, "variant": name,
                             "error": f"{type(e).__name__}: {e}"[:300]})
                log(f"  {name} batch {batch}: failed: {type(e).__name__}: {str(e)[:200]}")
                continue
            if name == "torch.compile":
                name = f"torch.compile ({compile_backend})"
            row: dict[str, Any] = {"arch": arch, "batch": batch, "variant": name, "input_hw": list(shape_hw),
                                   "ours_ms": 1000 * best["ours"], "ours_img_s": batch / best["ours"]}
            if "timm" in best:
                row.update(timm_ms=1000 * best["timm"], timm_img_s=batch / best["timm"],
                           ours_over_timm=best["ours"] / best["timm"])
            if isinstance(mode, torch.dtype):  # the pre-softmax scores' error (probabilities saturate)
                with torch.autocast(x.device.type, dtype=mode):
                    row["error_vs_fp32"] = rel_err(scores(ours, x.cpu().numpy(), device, blob), ref)
            rows.append(row)
            log(f"  {name} batch {batch}: ours {row['ours_ms']:.2f} ms ({row['ours_img_s']:.0f} img/s)"
                + (f", timm {row['timm_ms']:.2f} ms, ratio {row['ours_over_timm']:.2f}" if "timm_ms" in row else "")
                + (f", error vs fp32 {row['error_vs_fp32']:.1e}" if "error_vs_fp32" in row else ""))
        del x32
    if device != "cuda":
        rows.append({"arch": arch, "variant": "CUDA graphs", "note": "needs a CUDA device"})
    return rows


def onnx_check(arch: str, shape: tuple[int, int, int, int], device: str, iters: int, log) -> dict[str, Any]:
    import onnxruntime as ort
    from _timing import best_times

    from senet_proto.converters.onnx import build_onnx
    from senet_proto.converters.pytorch import build_module

    caffenet = seeded_caffenet(arch, shape)
    model = build_onnx(caffenet, input_shape=shape)
    providers = ort.get_available_providers()
    row: dict[str, Any] = {"arch": arch, "input": list(shape), "available_providers": providers}
    if "CUDAExecutionProvider" in providers:
        chosen = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    else:
        chosen = ["CPUExecutionProvider"]
        row["note"] = "ONNX Runtime here has no CUDA provider (onnxruntime-gpu is not installed): CPU provider used"
        log(f"  {row['note']}")
    session = ort.InferenceSession(model.SerializeToString(), providers=chosen)
    row["provider"] = session.get_providers()[0]
    x = make_input(shape)
    (inp,) = [i.name for i in session.get_inputs()]
    out = session.run(None, {inp: x})[0]
    import torch

    with torch.no_grad():
        ref = build_module(caffenet)(torch.from_numpy(x)).numpy()
    row["vs_pytorch_cpu"] = rel_err(out, ref)
    row["ms"] = 1000 * best_times({"ort": lambda: session.run(None, {inp: x})}, iters)["ort"]
    row["ok"] = bool(row["vs_pytorch_cpu"] <= 1e-4)
    log(f"  ONNX Runtime {row['provider']}: vs PyTorch CPU {row['vs_pytorch_cpu']:.2e}, {row['ms']:.2f} ms")
    return row


# --- report ----------------------------------------------------------------------------------------------------


def environment(device: str) -> dict[str, Any]:
    import google.protobuf
    import onnx
    import onnxruntime
    import timm
    import torch

    env = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "python": platform.python_version(),
           "machine": platform.machine(), "cpu_count": os.cpu_count(), "torch": torch.__version__,
           "cuda": torch.version.cuda, "timm": timm.__version__, "onnx": onnx.__version__,
           "onnxruntime": onnxruntime.__version__, "protobuf": google.protobuf.__version__,
           "numpy": np.__version__, "device": device}
    if device == "cuda":
        env["gpu"] = torch.cuda.get_device_name(0)
        env["cudnn"] = torch.backends.cudnn.version()
    return env


def _fmt(v: Any, spec: str = ".2e") -> str:
    return "" if v is None else format(v, spec) if isinstance(v, float) else str(v)


def write_report(out: Path, report: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    env = report["environment"]
    lines = [f"# gpu_check report ({env['date']})", "",
             f"Device: {env.get('gpu', env['device'])}; torch {env['torch']} (CUDA {env['cuda']}), timm {env['timm']},"
             f" onnxruntime {env['onnxruntime']}, protobuf {env['protobuf']}, Python {env['python']}.",
             f"Verdict: **{'PASS' if report['ok'] else 'FAIL'}** ({report['seconds']:.0f} s"
             f"{', quick' if report['quick'] else ''}).", "",
             "## Equivalence (scores: max|Δ| / max|reference|)", "",
             "| arch | input | device vs CPU | bound | timm model | timm vs CPU | ok |",
             "|---|---|---|---|---|---|---|"]
    for r in report["equivalence"]:
        lines.append(f"| {r['arch']} | {'x'.join(map(str, r['input']))} | {_fmt(r['device_vs_cpu'])} | {r['bound']:.0e}"
                     f" | {r['timm_model'] or '-'} | {_fmt(r.get('timm_vs_cpu'))} | {'yes' if r['ok'] else 'NO'} |")
    c = report["caffe"]
    lines += ["", "## Against real Caffe 1.0 (blobs computed where Caffe runs, bench/gpu_reference/)", ""]
    if "error" in c:
        lines.append(f"Not checked: {c['error']}")
    else:
        lines.append(f"{c['arch']} {'x'.join(map(str, c['input']))}: scores {c['scores_vs_caffe']:.2e} (bound "
                     f"{c['bound']:.0e}), outputs {c['outputs_vs_caffe']:.2e}; weights "
                     f"{'bit-identical' if c['weights_identical'] else 'not bit-identical'} to the reference's "
                     f"(magnitude sums differ by {c['weights_abs_sum_rel_diff']:.1e}): {'ok' if c['ok'] else 'FAIL'}")
    lines += ["", "## Speed (best of the runs; ours beside timm's legacy model with the same weights)", "",
              "| arch | variant | batch | ours ms | ours img/s | timm ms | timm img/s | ours / timm | error vs fp32 |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in report["speed"]:
        if "ours_ms" in r:
            lines.append(f"| {r['arch']} | {r['variant']} | {r['batch']} | {r['ours_ms']:.2f} | "
                         f"{r['ours_img_s']:.0f} | "
                         f"{_fmt(r.get('timm_ms'), '.2f')} | {_fmt(r.get('timm_img_s'), '.0f')} | "
                         f"{_fmt(r.get('ours_over_timm'), '.2f')} | {_fmt(r.get('error_vs_fp32'), '.1e')} |")
        else:
            lines.append(f"| {r['arch']} | {r['variant']} | {r.get('batch', '-')} | {r.get('error') or r.get('note')} "
                         "| | | | | |")
    o = report["onnx"]
    lines += ["", "## ONNX Runtime", ""]
    if o.get("note"):
        lines.append(o["note"] + ".")
    lines.append(f"{o['arch']} {'x'.join(map(str, o['input']))} with {o['provider']}: vs PyTorch CPU "
                 f"{o['vs_pytorch_cpu']:.2e}, {o['ms']:.2f} ms (providers here: {', '.join(o['available_providers'])})")
    (out / "report.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir", nargs="?", type=Path)
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    ap.add_argument("--quick", action="store_true", help="small inputs and batches (the CPU dry run)")
    ap.add_argument("--make-reference", action="store_true", help="run real Caffe here: bench/gpu_reference/")
    ap.add_argument("--speed-arch", default="se-resnet-50", help="the architecture of the speed rows")
    ap.add_argument("--compile-backend", default=None,
                    help="torch.compile's backend for its row (default: inductor; aot_eager with --quick, which "
                         "traces as inductor does without its minutes of code generation); 'none' leaves it out")
    args = ap.parse_args(argv)
    if args.make_reference:
        print(f"wrote {make_reference()}")
        return 0
    if args.outdir is None:
        ap.error("OUTDIR is required")
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: no CUDA device is available to PyTorch here (use --device cpu --quick)")
    torch.backends.cuda.matmul.allow_tf32 = False  # full float32 products, as Caffe computes them
    torch.backends.cudnn.allow_tf32 = False
    torch.set_flush_denormal(True)
    t0 = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t0:6.1f} s] {msg}", flush=True)

    from senet_proto.generator import ARCHITECTURES

    archs = tuple(ARCHITECTURES)
    if args.speed_arch not in archs:
        ap.error(f"--speed-arch must be one of {', '.join(archs)}")
    quick = args.quick
    equiv_shape = (1, 3, 64, 64) if quick else (2, 3, 224, 224)
    batches = (1, 2) if quick else (1, 32, 256)
    speed_hw = (64, 64) if quick else (224, 224)
    iters = 2 if quick else 20
    report: dict[str, Any] = {"environment": environment(args.device), "quick": quick}
    log(f"environment: {report['environment']}")
    log(f"equivalence, {len(archs)} architectures at {'x'.join(map(str, equiv_shape))}")
    report["equivalence"] = equivalence(archs, equiv_shape, args.device, log)
    log("against real Caffe's blobs")
    report["caffe"] = caffe_check(args.device, log)
    log(f"speed, {args.speed_arch} at {speed_hw[0]}x{speed_hw[1]}, batches {batches}")
    backend = args.compile_backend or ("aot_eager" if quick else "inductor")
    report["speed"] = speed(args.speed_arch, speed_hw, batches, args.device, iters,
                            None if backend == "none" else backend, batches[-1] if quick else 32, log)
    log("ONNX Runtime")
    report["onnx"] = onnx_check("se-resnet-50", (1, 3, *speed_hw), args.device, iters, log)
    report["seconds"] = time.perf_counter() - t0
    report["ok"] = bool(all(r["ok"] for r in report["equivalence"]) and report["caffe"]["ok"]
                        and report["onnx"]["ok"] and not any("error" in r for r in report["speed"]))
    write_report(args.outdir, report)
    log(f"{'PASS' if report['ok'] else 'FAIL'}: wrote {args.outdir / 'report.md'} and report.json")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())

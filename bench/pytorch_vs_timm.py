"""Speed of the converted PyTorch module against timm's legacy SENet (same architecture, random weights).

    python bench/pytorch_vs_timm.py [--arch se-resnet-50] [--batch 8] [--device cpu] [--iters 10]

Prints the best milliseconds per forward (models interleaved) for: timm's model, the converted module
(BatchNorm merged), and with BatchNorm folded (--fuse-bn), each also after optimize_for_inference() on the CPU
(+opt: prepacked oneDNN convolutions), plus ratios to timm. Weights need not be trained
for speed: the module is built from the generated prototxt with seeded random blobs (bench/_random_net.py, no
Caffe needed).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from _random_net import seeded_caffenet
from _timing import best_times

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's senet_proto, installed or not

from senet_proto.converters.pytorch import build_module

TIMM = {"se-resnet-50": "legacy_seresnet50", "se-resnet-101": "legacy_seresnet101",
        "se-resnet-152": "legacy_seresnet152", "se-resnext-50": "legacy_seresnext50_32x4d",
        "se-resnext-101": "legacy_seresnext101_32x4d", "senet-154": "legacy_senet154"}


def bench(models: dict[str, torch.nn.Module], x: torch.Tensor, iters: int, device: str) -> dict[str, float]:
    """Best time (ms) per model; models run interleaved so that load from other processes hits all alike."""
    sync = torch.cuda.synchronize if device == "cuda" else None
    with torch.inference_mode():
        best = best_times({name: (lambda m=m: m(x)) for name, m in models.items()}, iters, sync)
    return {name: 1000 * t for name, t in best.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="se-resnet-50", choices=sorted(TIMM))
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    import timm

    torch.set_flush_denormal(True)  # random weights can drive activations into denormals, which time nothing useful

    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    x = torch.randn(args.batch, 3, 224, 224, device=args.device).contiguous(memory_format=fmt)
    ref = timm.create_model(TIMM[args.arch], pretrained=False).eval().to(args.device, memory_format=fmt)
    caffenet = seeded_caffenet(args.arch, (1, 3, 224, 224))
    ours = build_module(caffenet).to(args.device, memory_format=fmt)
    fused = build_module(caffenet, fuse_bn=True).to(args.device, memory_format=fmt)
    models = {"timm": ref, "ours": ours, "fused": fused}
    if args.device == "cpu":  # prepacked oneDNN convolutions; nothing changes on other devices
        models["ours+opt"] = build_module(caffenet).optimize_for_inference().to(memory_format=fmt)
        models["fused+opt"] = build_module(caffenet, fuse_bn=True).optimize_for_inference().to(memory_format=fmt)
    t = bench(models, x, args.iters, args.device)
    print(f"{args.arch} batch {args.batch} on {args.device}{' channels_last' if args.channels_last else ''}: "
          f"timm {TIMM[args.arch]} {t['timm']:.1f} ms; "
          + "; ".join(f"{name} {ms:.1f} ms ({ms / t['timm']:.2f}x timm)" for name, ms in t.items() if name != "timm"))


if __name__ == "__main__":
    main()

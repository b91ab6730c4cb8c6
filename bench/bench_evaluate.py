"""Speed of ``evaluate`` against its two halves: decode + resize + crop alone, and the model alone.

    python bench/bench_evaluate.py [--images 256] [--batch-size 32] [--workers 2] [--device cpu] [--size 224]

Writes ``--images`` JPEGs of ImageNet's typical size (500x375, smooth colour waves plus noise, quality 90) into
a temporary class folder, then measures images/s of: the DataLoader that ``evaluate`` uses (Pillow decode,
bilinear resize, center crop; ``--workers`` processes), the model alone on ready uint8 batches (the same
normalisation, softmax and class reordering ``evaluate`` does), and ``evaluate`` itself, end to end. The target
is evaluate >= 0.9x the slower half. Each case runs ``--repeats`` times, in rotating order; the best counts.
The model is SE-ResNet-50 (``--arch``) built from the generated prototxt with random weights (no Caffe needed;
speed does not depend on the values).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's senet_proto, installed or not

from _random_net import seeded_caffenet
from pytorch_vs_timm import TIMM

from senet_proto.converters.pytorch import build_module
from senet_proto.inference.evaluate import evaluate, loader
from senet_proto.inference.models import classifier_from_module


def write_jpegs(folder: Path, n: int, seed: int = 0) -> list[Path]:
    from PIL import Image

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:375, 0:500] / 500.0
    files = []
    for i in range(n):
        ch = [np.sin(x * rng.uniform(2, 30) + rng.uniform(0, 6)) * np.cos(y * rng.uniform(2, 30)) for _ in range(3)]
        img = (np.stack(ch, -1) * 100 + 128 + rng.normal(0, 12, (375, 500, 3))).clip(0, 255).astype(np.uint8)
        path = folder / f"img_{i:05d}.JPEG"
        Image.fromarray(img).save(path, quality=90)
        files.append(path)
    return files


def rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="se-resnet-50", choices=sorted(TIMM))
    ap.add_argument("--images", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--size", type=int, default=224, help="crop size (the resize follows at crop_pct 0.875)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--repeats", type=int, default=3, help="rounds; each case's best images/s is reported")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)  # random weights can drive activations into denormals, which time nothing useful
    caffenet = seeded_caffenet(args.arch, (1, 3, args.size, args.size))
    clf = classifier_from_module(build_module(caffenet), "pytorch", {}, args.device)
    with tempfile.TemporaryDirectory(prefix="senet-proto-bench-") as tmp:
        folder = Path(tmp) / "n01440764"
        folder.mkdir()
        files = write_jpegs(folder, args.images)
        labels = [0] * len(files)

        x = torch.randint(0, 256, (args.batch_size, 3, args.size, args.size), dtype=torch.uint8)
        clf.probabilities(x)  # warm-up
        sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)
        batches = -(-args.images // args.batch_size)

        def decode_alone() -> float:  # decode + resize + crop, as evaluate's loader does it
            t0 = time.perf_counter()
            n = sum(len(b[0]) for b in loader(files, labels, clf.prep, args.batch_size, args.workers, False))
            return rate(n, time.perf_counter() - t0)

        def model_alone() -> float:
            sync()
            t0 = time.perf_counter()
            for _ in range(batches):
                clf.probabilities(x).cpu()
            sync()
            return rate(batches * args.batch_size, time.perf_counter() - t0)

        def end_to_end() -> float:
            result = evaluate(clf, files, labels, batch_size=args.batch_size, workers=args.workers)
            return rate(result["images"], result["seconds"])

        cases = {"decode": decode_alone, "model": model_alone, "evaluate": end_to_end}
        best = dict.fromkeys(cases, 0.0)
        for r in range(args.repeats):  # best of rounds, case order rotating: other processes' load hits all alike
            names = list(cases)[r % 3:] + list(cases)[:r % 3]
            for name in names:
                best[name] = max(best[name], cases[name]())
    decode, model = best["decode"], best["model"]
    slower = min(decode, model)
    print(f"{args.arch} {args.size}x{args.size} on {args.device}, {args.images} JPEGs 500x375, batch "
          f"{args.batch_size}, {args.workers} workers, {torch.get_num_threads()} torch threads")
    print(f"  decode+resize alone  {decode:8.1f} images/s")
    print(f"  model alone          {model:8.1f} images/s")
    print(f"  evaluate             {best['evaluate']:8.1f} images/s = {best['evaluate'] / slower:.2f}x the slower half "
          f"({'decode' if decode <= model else 'model'}; target >= 0.9x)")


if __name__ == "__main__":
    main()

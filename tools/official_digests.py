"""Print the expected digests of the official prototxts (tests/generator/official_digests.toml).

Usage: python tools/official_digests.py ../shared/official > tests/generator/official_digests.toml
The digest is SHA-256 of NetParameter.SerializeToString(deterministic=True) of the parsed official file.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from senet_proto.caffe import read_prototxt

FILES = {
    "se-bn-inception": "SE-BN-Inception",
    "se-resnet-50": "SE-ResNet-50",
    "se-resnet-152": "SE-ResNet-152",
    "se-resnext-50": "SE-ResNeXt-50",
    "senet-154": "SENet-154",
}


def main(directory: Path) -> None:
    print("# SHA-256 of NetParameter.SerializeToString(deterministic=True) of each official prototxt in")
    print("# ../shared/official, parsed with senet_proto's schema. Computed from the official files themselves")
    print("# (never from the generator) with: python tools/official_digests.py ../shared/official")
    for arch, stem in FILES.items():
        net = read_prototxt(directory / f"{stem}.prototxt")
        digest = hashlib.sha256(net.SerializeToString(deterministic=True)).hexdigest()
        print(f'[{arch}]\nfile = "{stem}.prototxt"\nlayers = {len(net.layer)}\nsha256 = "{digest}"\n')


if __name__ == "__main__":
    main(Path(sys.argv[1]))

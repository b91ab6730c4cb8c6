"""Image cases for the timm-folder, predict and evaluate tests: real image files, an SE-ResNet-50 at 64x64
with Caffe-made weights calibrated on those images' crops, and real Caffe's outputs on the crops timm's own
transforms make.

The crops come from timm's eval transform (torchvision + Pillow), not from senet-proto's code, so that
``predict``/``evaluate`` are checked against an independent pipeline and real Caffe. The fixtures are
registered in tests/conftest.py (one session-wide copy).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

SIZE = 64  # the smallest input the checks need; SE-ResNet-50 then ends in a global average pool
BGR_MEAN = np.array([104.0, 117.0, 123.0], dtype=np.float32).reshape(1, 3, 1, 1)

# (file name, height, width, Pillow mode): JPEG and PNG, odd sizes (one below the resize), gray, RGBA, palette
IMAGE_SPECS = [
    ("a_rgb.jpg", 97, 131, "RGB"),
    ("b_gray.png", 120, 75, "L"),
    ("c_rgba.png", 83, 83, "RGBA"),
    ("d_rgb.png", 150, 101, "RGB"),
    ("e_gray.jpg", 101, 149, "L"),
    ("f_small.jpg", 41, 57, "RGB"),
    ("g_palette.png", 77, 90, "P"),
]


def smooth_image(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A natural-looking uint8 image: smooth colour waves plus a little noise."""
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    ch = [np.sin(x * rng.uniform(2, 9) + rng.uniform(0, 6)) * np.cos(y * rng.uniform(2, 9) + rng.uniform(0, 6))
          for _ in range(3)]
    return (np.stack(ch, -1) * 100 + 128 + rng.normal(0, 12, (h, w, 3))).clip(0, 255).astype(np.uint8)


def write_images(folder: Path, seed: int = 0) -> list[Path]:
    from PIL import Image

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for name, h, w, mode in IMAGE_SPECS:
        img = Image.fromarray(smooth_image(rng, h, w))
        if mode == "L":
            img = img.convert("L")
        elif mode == "RGBA":
            img = img.convert("RGBA")
            img.putalpha(Image.fromarray(rng.integers(0, 256, (h, w), dtype=np.uint8)))
        elif mode == "P":
            img = img.convert("P", palette=Image.Palette.ADAPTIVE)
        path = folder / name
        img.save(path, quality=90) if name.endswith(".jpg") else img.save(path)
        files.append(path)
    return files


def timm_crops(files: list[Path], size: int = SIZE) -> np.ndarray:
    """RGB 0-255 float crops (N, 3, S, S) made by timm's own eval transform (resize size/0.875, center crop)."""
    import timm.data
    from PIL import Image

    tf = timm.data.create_transform(input_size=(3, size, size), crop_pct=0.875, interpolation="bilinear",
                                    mean=(0.0, 0.0, 0.0), std=(1.0 / 255,) * 3)
    crops = []
    for f in files:
        with Image.open(f) as img:
            crops.append(tf(img.convert("RGB")).numpy())  # what timm's datasets do: RGB
    return np.rint(np.stack(crops)).astype(np.float32)  # x * 255 / 255: integers up to float rounding


@dataclass
class CaffeCase:
    net: object
    prototxt: Path
    weights: Path
    files: list[Path]
    crops: np.ndarray  # RGB 0-255
    scores: np.ndarray  # Caffe's classifier output, official class order
    probs: np.ndarray  # Caffe's prob, official class order

    def standard(self, a: np.ndarray) -> np.ndarray:
        from senet_proto.converters.conventions import label_map

        return a[:, label_map()]


@pytest.fixture(scope="session")
def image_files(tmp_path_factory) -> list[Path]:
    return write_images(tmp_path_factory.mktemp("images"))


@pytest.fixture(scope="session")
def caffe_case(caffe_root, image_files, tmp_path_factory) -> CaffeCase:
    from senet_proto import reference
    from senet_proto.caffe import write_prototxt
    from senet_proto.generator import GenerateOptions, generate

    net = generate("se-resnet-50", GenerateOptions(input_shape=(1, 3, SIZE, SIZE)))
    prototxt = tmp_path_factory.mktemp("net") / "se-resnet-50-64.prototxt"
    write_prototxt(net, prototxt)
    crops = timm_crops(image_files)
    bgr = np.ascontiguousarray(crops[:, ::-1] - BGR_MEAN)
    weights = reference.cached_weights(net, seed=0, calibration_input=bgr)
    out = reference.forward(net, weights, {"data": bgr}, blobs=["classifier", "prob"])
    return CaffeCase(net, prototxt, weights, image_files, crops, out["classifier"].reshape(len(bgr), -1),
                     out["prob"].reshape(len(bgr), -1))


@pytest.fixture(scope="session")
def timm_dir(caffe_case, tmp_path_factory) -> Path:
    from senet_proto.converters.targets import convert

    return convert(caffe_case.net, caffe_case.weights, tmp_path_factory.mktemp("timm") / "se_resnet50", "timm-dir")


def tiny10_net():
    """A 10-class net (conv, global pool, fc, softmax) on 16x16 input: for class counts other than 1000."""
    from senet_proto.caffe import caffe_pb2

    net = caffe_pb2.NetParameter(name="tiny10")
    net.layer.add(name="data", type="Input", top=["data"]).input_param.shape.add(dim=[1, 3, 16, 16])
    conv = net.layer.add(name="conv", type="Convolution", bottom=["data"], top=["conv"])
    conv.convolution_param.num_output = 8
    conv.convolution_param.kernel_size.append(3)
    net.layer.add(name="relu", type="ReLU", bottom=["conv"], top=["conv"])
    pool = net.layer.add(name="pool", type="Pooling", bottom=["conv"], top=["pool"])
    pool.pooling_param.pool = caffe_pb2.PoolingParameter.AVE
    pool.pooling_param.global_pooling = True
    net.layer.add(name="fc", type="InnerProduct", bottom=["pool"], top=["fc"]).inner_product_param.num_output = 10
    net.layer.add(name="prob", type="Softmax", bottom=["fc"], top=["prob"])
    return net


@pytest.fixture(scope="session")
def tiny10_pair(caffe_root, tmp_path_factory) -> tuple[object, Path, Path]:
    """(net, prototxt, Caffe-made weights) of ``tiny10_net``."""
    from senet_proto import reference
    from senet_proto.caffe import write_prototxt

    net = tiny10_net()
    proto = tmp_path_factory.mktemp("tiny10") / "tiny10.prototxt"
    write_prototxt(net, proto)
    return net, proto, reference.cached_weights(net, seed=0)

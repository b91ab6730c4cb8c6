"""The crop senet-proto feeds the nets is, pixel for pixel, the one timm's eval transform makes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from image_cases import timm_crops

from senet_proto.errors import DataError
from senet_proto.inference.images import Preprocess, crops, find_images, labelled_images

pytest.importorskip("timm", reason="timm is part of the test extras (pip install '.[all,test]')")


@pytest.mark.parametrize("size", [64, 224])
def test_crops_equal_timms(image_files: list[Path], size: int) -> None:
    ours = crops(image_files, Preprocess().with_sizes(size)).transpose(0, 3, 1, 2).astype(np.float32)
    np.testing.assert_array_equal(ours, timm_crops(image_files, size))


def test_bad_folders(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images")
    with pytest.raises(DataError, match="no image files"):
        find_images([tmp_path / "empty"])
    (tmp_path / "val" / "n01440764").mkdir(parents=True)
    (tmp_path / "val" / "cats").mkdir()
    with pytest.raises(DataError, match="cats: sub-folder name is not an ImageNet-1k WordNet id"):
        labelled_images(tmp_path / "val")
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "val.txt").write_text("a.jpg n99999999\n")
    with pytest.raises(DataError, match="neither an ImageNet-1k WordNet id"):
        labelled_images(tmp_path / "flat")

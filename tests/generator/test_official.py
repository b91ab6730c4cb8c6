"""With default options the generator reproduces the official prototxts (semantic equality)."""

from __future__ import annotations

import difflib
import hashlib

import pytest
from official_nets import DIGESTS, shared_file

from senet_proto.caffe import format_prototxt, read_prototxt
from senet_proto.generator import ARCHITECTURES, generate, generate_prototxt


def _diff(official_text: str, generated_text: str) -> str:
    lines = difflib.unified_diff(official_text.splitlines(), generated_text.splitlines(), "official",
                                 "generated", lineterm="", n=3)
    return "\n".join(list(lines)[:80])


@pytest.mark.parametrize("arch", sorted(DIGESTS))
def test_generated_net_is_the_official_one(arch: str) -> None:
    """Against the committed digest of the official file always, and against the file itself when present."""
    net = generate(arch)
    expected = DIGESTS[arch]
    digest = hashlib.sha256(net.SerializeToString(deterministic=True)).hexdigest()
    path = shared_file(expected["file"])
    if digest != expected["sha256"]:
        detail = _diff(format_prototxt(read_prototxt(path)), format_prototxt(net)) if path is not None else (
            f"(../shared/official/{expected['file']} is not beside the repo, so no diff can be shown)")
        pytest.fail(f"{arch}: generated net differs from the official one\n{detail}")
    assert len(net.layer) == expected["layers"]
    if path is not None:  # the release's file is here: compare with it too, and check the committed digest
        official = read_prototxt(path)
        assert net == official, _diff(format_prototxt(official), format_prototxt(net))
        assert hashlib.sha256(official.SerializeToString(deterministic=True)).hexdigest() == expected["sha256"]


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_text_starts_with_the_official_header_and_round_trips(arch: str) -> None:
    text = generate_prototxt(arch)
    assert text.startswith("# mean_value: 104, 117, 123\nname: ")
    assert not text.startswith("\ufeff")
    from senet_proto.caffe import parse_prototxt

    assert parse_prototxt(text) == generate(arch)


@pytest.mark.parametrize(
    ("arch", "name", "blocks", "axpy"),
    [("se-resnet-101", "SE-ResNet-101", (3, 4, 23, 3), 33), ("se-resnext-101", "SE-ResNeXt-101 (32 x 4d)",
                                                            (3, 4, 23, 3), 33)],
)
def test_held_out_nets_follow_their_families(arch: str, name: str, blocks: tuple[int, ...], axpy: int) -> None:
    """The two releases not in ../shared: same block pattern as their 50-layer siblings, deeper conv4."""
    net = generate(arch)
    sibling = generate(arch.replace("101", "50"))
    assert net.name == name
    assert sum(ly.type == "Axpy" for ly in net.layer) == axpy == sum(blocks)
    for stage, n in zip(range(2, 6), blocks, strict=True):
        assert f"conv{stage}_{n}" in {ly.name for ly in net.layer}
        assert f"conv{stage}_{n + 1}" not in {ly.name for ly in net.layer}
    # Every layer of the 50-layer sibling's conv4_1 block appears identically in the 101-layer net.
    by_name = {ly.name: ly for ly in net.layer}
    for ly in sibling.layer:
        if ly.name.startswith(("conv4_1", "conv5_", "conv1", "pool", "classifier")) and ly.name != "pool5/7x7_s1":
            expected = type(ly)()
            expected.CopyFrom(ly)
            expected.bottom[:] = [f"conv4_{blocks[2]}" if b == "conv4_6" else b for b in ly.bottom]
            assert by_name[ly.name] == expected, ly.name
    assert len(net.layer) == len(sibling.layer) + 17 * 18  # 17 more identity blocks of 18 layers

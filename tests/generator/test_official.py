"""With default options the generator reproduces the official prototxts (semantic equality)."""

from __future__ import annotations

import difflib
import hashlib
import sys
from pathlib import Path

import pytest

from senet_proto.caffe import format_prototxt, read_prototxt
from senet_proto.generator import ARCHITECTURES, generate, generate_prototxt

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

HERE = Path(__file__).resolve().parent
OFFICIAL = HERE.parents[1].parent / "shared" / "official"
DIGESTS = tomllib.loads((HERE / "official_digests.toml").read_text())


def _diff(official_text: str, generated_text: str) -> str:
    lines = difflib.unified_diff(official_text.splitlines(), generated_text.splitlines(), "official",
                                 "generated", lineterm="", n=3)
    return "\n".join(list(lines)[:80])


@pytest.mark.parametrize("arch", sorted(DIGESTS))
def test_generated_net_matches_the_official_digest(arch: str) -> None:
    net = generate(arch)
    expected = DIGESTS[arch]
    digest = hashlib.sha256(net.SerializeToString(deterministic=True)).hexdigest()
    if digest != expected["sha256"]:
        path = OFFICIAL / expected["file"]
        detail = _diff(format_prototxt(read_prototxt(path)), format_prototxt(net)) if path.exists() else (
            f"(../shared/official/{expected['file']} is not beside the repo, so no diff can be shown)")
        pytest.fail(f"{arch}: generated net differs from the official one\n{detail}")
    assert len(net.layer) == expected["layers"]


@pytest.mark.parametrize("arch", sorted(DIGESTS))
def test_generated_net_equals_the_official_file(arch: str) -> None:
    path = OFFICIAL / DIGESTS[arch]["file"]
    if not path.exists():
        pytest.skip(f"{path} not present (clone without ../shared); the digest test above still ran")
    official = read_prototxt(path)
    generated = generate(arch)
    assert generated == official, _diff(format_prototxt(official), format_prototxt(generated))


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

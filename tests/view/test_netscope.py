"""Netscope-safety: each rule on hand-made text, the official files, and every generated net."""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from official_nets import NAMES, official_path

from senet_proto.caffe import format_prototxt
from senet_proto.view.netscope import NUMBER, check_netscope_safe

GOOD = ('name: "n"\n'
        'layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }\n'
        'layer { name: "c" type: "Convolution" bottom: "data" top: "c"\n'
        '        convolution_param { num_output: 4 kernel_size: 3 } }\n'
        'layer { name: "c/bn" type: "BatchNorm" bottom: "c" top: "c" batch_norm_param { eps: 1e-05 } }\n'
        'layer { name: "c/relu" type: "ReLU" bottom: "c" top: "c" }\n'
        'layer { name: "drop" type: "Dropout" bottom: "c" top: "d" dropout_param { dropout_ratio: 0.5 } }\n')


def test_good_text_is_safe() -> None:
    assert check_netscope_safe(GOOD) == []
    assert check_netscope_safe(GOOD.encode()) == []


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("\ufeff" + GOOD, "byte order mark"),
        (b"\xef\xbb\xbf" + GOOD.encode(), "byte order mark"),
        ("", "empty"),
        ("# just a comment\n\n", "empty"),
        (GOOD.replace("num_output: 4 kernel_size", "num_output: 4; kernel_size"), "';' between fields"),
        (GOOD.replace("num_output: 4 kernel_size", "num_output: 4, kernel_size"), "',' between fields"),
        (GOOD.replace("0.5", ".5"), "'.5' is not a number"),
        (GOOD.replace("0.5", "5."), "'5.' is not a number"),
        (GOOD.replace("kernel_size: 3", "kernel_size: +3"), "'\\+3' is not a number"),
        (GOOD.replace("kernel_size: 3", "kernel_size: 03"), "'03' is not a number"),
        (GOOD.replace("0.5", "nan"), "not finite"),
        (GOOD.replace("shape { dim: 1 dim: 3", "shape { dim: [1, 3]"), "list syntax"),
        (GOOD.replace('name: "drop"', 'name: "c"'), "layer name 'c' is used twice"),
        (GOOD + 'layer { name: "c2" type: "Convolution" bottom: "data" top: "c" '
                'convolution_param { num_output: 4 kernel_size: 3 } }\n', "blob 'c' is written by 2 ordinary layers"),
        (GOOD + 'layer { name: "late" type: "Sigmoid" bottom: "c" top: "c" }\n',
         "in-place layer 'late' .Sigmoid. on 'c' does not directly follow"),
        (GOOD.replace("layer {", "layer <", 1).replace("} } }\n", "} } >\n", 1), "message syntax"),
        ("\xff\xfe".encode("latin-1"), "not UTF-8"),
        ('layer { name: "x" type: ', "does not parse"),
    ],
)
def test_unsafe_text_is_reported(text: str | bytes, words: str) -> None:
    problems = check_netscope_safe(text)
    assert any(re.search(words, p) for p in problems), problems


@pytest.mark.parametrize("token", ["0", "-1", "12", "0.5", "-0.25", "1e-05", "2E+3", "1.5e10"])
def test_numbers_netscope_reads(token: str) -> None:
    assert NUMBER.fullmatch(token)
    assert check_netscope_safe(GOOD.replace("0.5", token)) == []


@pytest.mark.parametrize("token", [".5", "5.", "+1", "007", "1e", "1e+", "0x10", "1.2.3", "--1"])
def test_numbers_netscope_rejects(token: str) -> None:
    assert not NUMBER.fullmatch(token)
    assert check_netscope_safe(GOOD.replace("0.5", token))


def test_strings_and_comments_are_not_tokens() -> None:
    text = GOOD.replace('name: "n"', 'name: "a;b, .5 +1"  # comment with ; , .5 and +1')
    assert check_netscope_safe(text) == []


@pytest.mark.parametrize("name", NAMES)
def test_official_prototxts_are_netscope_safe(name: str) -> None:
    assert check_netscope_safe(official_path(name).read_bytes()) == []


# ---- every generated net: architectures × SE style × squeeze × phase -------------------------------------

def _generator() -> Any:
    try:
        import senet_proto.generator as gen
    except ImportError:
        return None
    return gen


GEN = _generator()


def _values(names: tuple[str, ...], fallback: tuple[str, ...]) -> tuple[str, ...]:
    for n in names:
        v = getattr(GEN, n, None)
        if v:
            return tuple(v)
    return fallback


if GEN is not None:
    ARCHS = tuple(sorted(GEN.ARCHITECTURES))
    SE_STYLES = _values(("SE_STYLES",), ("axpy", "scale", "none"))
    SQUEEZES = _values(("SQUEEZES", "SQUEEZE_KINDS"), ("conv", "fc"))
    PHASES = _values(("PHASES",), ("deploy", "train"))
    COMBOS = list(itertools.product(ARCHS, SE_STYLES, SQUEEZES, PHASES))
else:
    COMBOS = []


def test_generator_is_available() -> None:
    assert GEN is not None, "senet_proto.generator is missing: the per-architecture Netscope tests cannot run"


def _generate(arch: str, se_style: str, squeeze: str, phase: str) -> Any:
    opts = GEN.GenerateOptions(se_style=se_style, squeeze=squeeze, phase=phase)
    return GEN.generate(arch, opts)


@pytest.mark.parametrize(("arch", "se_style", "squeeze", "phase"), COMBOS)
def test_generated_nets_are_netscope_safe(arch: str, se_style: str, squeeze: str, phase: str) -> None:
    text = format_prototxt(_generate(arch, se_style, squeeze, phase))
    assert check_netscope_safe(text) == []


@pytest.mark.parametrize("arch", sorted({c[0] for c in COMBOS}))
def test_scale_fc_style_has_only_types_netscope_infers(arch: str) -> None:
    """README claim: `--se-style scale --squeeze fc` nets have no Axpy and no Reshape."""
    net = _generate(arch, "scale", "fc", PHASES[0])
    types = {ly.type for ly in net.layer}
    assert not types & {"Axpy", "Reshape"}, sorted(types)


PHASED = ('layer { name: "data" type: "Input" top: "data" include { phase: TRAIN } '
          'input_param { shape { dim: 1 dim: 3 } } }\n'
          'layer { name: "data" type: "Input" top: "data" include { phase: TEST } '
          'input_param { shape { dim: 2 dim: 3 } } }\n'
          'layer { name: "r" type: "ReLU" bottom: "data" top: "data" }\n')


def test_train_val_nets_are_checked_per_phase() -> None:
    """One data layer per phase writing the same blob is how train_val nets look; each phase is drawable."""
    assert check_netscope_safe(PHASED) == []
    twice = PHASED.replace("include { phase: TEST }", "include { phase: TRAIN }")
    problems = check_netscope_safe(twice)
    assert any("written by 2 ordinary layers" in p and "phase TRAIN" in p for p in problems), problems
    # within phase TRAIN the in-place ReLU follows a data layer; in phase TEST nothing produces 'data'
    assert not any("in-place" in p and "TRAIN" in p for p in problems)
    assert any("in-place layer 'r'" in p and "phase TEST" in p for p in problems)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=300), st.binary(max_size=300),
                 st.lists(st.sampled_from(["layer", "{", "}", ":", '"a"', "name", "top", "bottom", "1", ".5", ";",
                                           "type", '"ReLU"', "\n", " ", "#", "\ufeff", "[", "]", ","]),
                          max_size=60).map("".join)))
def test_never_crashes(text: str | bytes) -> None:
    problems = check_netscope_safe(text)
    assert isinstance(problems, list) and all(isinstance(p, str) for p in problems)

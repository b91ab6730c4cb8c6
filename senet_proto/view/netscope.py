"""Is a prototxt safe for Netscope (ethereon.github.io/netscope)?

Netscope's parser rejects a UTF-8 BOM, an empty file, ``;`` or ``,`` between fields, and numbers its
grammar does not know: it reads numbers as JSON does (``-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?``),
so ``.5``, ``5.``, ``+1`` and ``007`` fail, and so do ``inf``/``nan``. Its graph merges an in-place layer
(top == bottom) into the box of the layer that produced the blob, so in-place layers must follow their
producer directly; it fails when two ordinary layers write one blob and draws layers with the same name as
one box. Netscope draws one phase of a train_val net (layers with ``include { phase: ... }`` of the other phase
are left out), so for such nets the graph rules are checked within each phase (TRAIN and TEST).

``check_netscope_safe(text)`` lists every problem found (empty: safe).
"""

from __future__ import annotations

import re

from ..caffe import caffe_pb2, parse_prototxt
from ..caffe.validate import layers_for_phase
from ..errors import PrototxtError

EDITOR_URL = "https://ethereon.github.io/netscope/#/editor"
GIST_URL = "https://ethereon.github.io/netscope/#/gist/{id}"

NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_STRING_OR_COMMENT = re.compile(r"\"(?:[^\"\\\n]|\\.)*\"|'(?:[^'\\\n]|\\.)*'|#[^\n]*")
_PUNCT = re.compile(r"[{}:]")
_FORBIDDEN = {";": "';' between fields", ",": "',' between fields", "[": "list syntax '[...]'",
              "]": "list syntax '[...]'", "<": "'<...>' message syntax", ">": "'<...>' message syntax"}
MAX_PROBLEMS = 50


def _token_problems(text: str) -> list[str]:
    problems: list[str] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        bare = _STRING_OR_COMMENT.sub(" ", line)
        for ch, what in _FORBIDDEN.items():
            if ch in bare:
                problems.append(f"line {lineno}: {what} (Netscope's parser rejects it)")
                bare = bare.replace(ch, " ")
        for token in _PUNCT.sub(" ", bare).split():
            if IDENT.fullmatch(token):
                if token.lower() in ("inf", "infinity", "nan", "-inf"):
                    problems.append(f"line {lineno}: number {token!r} is not finite")
                continue
            if not NUMBER.fullmatch(token):
                problems.append(f"line {lineno}: {token!r} is not a number Netscope's grammar accepts "
                                f"(write e.g. 0.5, 5, 1e-05; not .5, 5., +1)")
    return problems


def _layer_problems(layers: list, where: str) -> list[str]:
    problems: list[str] = []
    seen: dict[str, int] = {}
    writers: dict[str, list[str]] = {}
    for i, layer in enumerate(layers):
        name = layer.name
        if name in seen:
            problems.append(f"layer name '{name}' is used twice{where} (layers {seen[name] + 1} and {i + 1}): "
                            f"Netscope draws them as one box")
        seen.setdefault(name, i)
        in_place = bool(layer.top) and list(layer.top) == list(layer.bottom)
        for top in layer.top:
            if in_place:
                prev = layers[i - 1] if i else None
                if prev is None or top not in prev.top:
                    problems.append(f"in-place layer '{name}' ({layer.type}) on '{top}' does not directly follow "
                                    f"the layer that produced '{top}'{where}")
            elif top not in layer.bottom:
                writers.setdefault(top, []).append(name)
    for blob, names in writers.items():
        if len(names) > 1:
            problems.append(f"blob '{blob}' is written by {len(names)} ordinary layers ({', '.join(names)}){where}: "
                            f"Netscope fails on that")
    return problems


def _graph_problems(text: str) -> list[str]:
    try:
        net = parse_prototxt(text, source="prototxt")
    except PrototxtError as e:
        return [f"does not parse: {e}"]
    if len(net.layers) and not len(net.layer):
        return ["legacy V1 'layers': Netscope reads only 'layer'"]
    phased = any(r.HasField("phase") for ly in net.layer for r in [*ly.include, *ly.exclude])
    if not phased:
        return _layer_problems(list(net.layer), "")
    # a train_val net: Netscope shows one phase's layers; every phase must be drawable
    problems: list[str] = []
    for phase, label in ((caffe_pb2.TRAIN, "TRAIN"), (caffe_pb2.TEST, "TEST")):
        for p in _layer_problems(layers_for_phase(net, phase), f" in phase {label}"):
            if p not in problems:
                problems.append(p)
    return problems


def check_netscope_safe(text: str | bytes) -> list[str]:
    """Every reason Netscope would misread ``text`` (empty list: safe)."""
    if isinstance(text, bytes):
        if text.startswith(b"\xef\xbb\xbf"):
            return ["starts with a UTF-8 byte order mark (Netscope's parser rejects it)",
                    *check_netscope_safe(text[3:])]
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            return [f"not UTF-8 text (byte {e.start})"]
    problems: list[str] = []
    if text.startswith("\ufeff"):
        problems.append("starts with a UTF-8 byte order mark (Netscope's parser rejects it)")
        text = text[1:]
    if not _STRING_OR_COMMENT.sub("", text).strip():
        return [*problems, "empty prototxt (no fields)"]
    problems += _token_problems(text)
    problems += _graph_problems(text)
    if len(problems) > MAX_PROBLEMS:
        problems = [*problems[:MAX_PROBLEMS], f"... and {len(problems) - MAX_PROBLEMS} more"]
    return problems

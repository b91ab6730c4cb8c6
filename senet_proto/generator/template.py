"""Architecture templates: TOML data files describing what makes each net differ.

The generator is generic code over these records (like timm's ``model_args``).
Two generator kinds exist: ``bottleneck`` (SE-ResNet, SE-ResNeXt, SENet-154:
stages of residual bottleneck blocks) and ``inception`` (SE-BN-Inception:
a list of inception modules). See senet_proto/templates/*.toml for examples.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import TemplateError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

FAMILIES = ("resnet", "resnext", "senet", "bn-inception")
KINDS = ("bottleneck", "inception")


@dataclass(frozen=True)
class StemConv:
    name: str
    relu: str
    num_output: int
    kernel: int
    stride: int
    pad: int


@dataclass(frozen=True)
class PoolSpec:
    name: str
    method: str  # MAX or AVE
    kernel: int
    stride: int
    pad: int = 0
    # "floor": the pooled size PyTorch's floor mode gives (Caffe 1.0 rounds up; the extra last row/column is
    # sliced off where the sizes differ)
    round: str = "ceil"


@dataclass(frozen=True)
class InceptionModule:
    name: str
    stride: int  # 2: a reduction module (no 1x1 and pool_proj branches; max pool 3x3 s2)
    b1x1: int
    b3x3_reduce: int
    b3x3: int
    d3x3_reduce: int
    d3x3: int
    pool: str  # AVE or MAX (stride-1 modules)
    pool_proj: int


@dataclass(frozen=True)
class Template:
    source: str
    name: str
    description: str
    family: str
    kind: str
    explicit_stride: bool
    stem: tuple[StemConv | PoolSpec, ...]
    head_pool: PoolSpec
    dropout: tuple[str, float] | None
    classifier: str
    prob: str
    # bottleneck kind
    blocks: tuple[int, ...] = ()
    reduce_width: tuple[int, ...] = ()
    mid_width: tuple[int, ...] = ()
    out_width: tuple[int, ...] = ()
    groups: int = 1
    strides: tuple[int, ...] = ()
    stride_on: str = "reduce"
    proj_kernel: tuple[int, ...] = ()
    first_stage: int = 2
    se_width: tuple[int, ...] = ()  # the SE bottleneck's width per stage; empty: channels // --reduction
    shortcut: str = "conv"  # the first block's projection: "conv" (strided), "avg" (average pool, then 1x1 conv)
    # inception kind
    modules: tuple[InceptionModule, ...] = ()


class _Reader:
    """Typed access to a TOML table with errors naming the file and the key."""

    def __init__(self, data: dict[str, Any], source: str, prefix: str = "") -> None:
        self.data, self.source, self.prefix = data, source, prefix

    def _err(self, key: str, msg: str) -> TemplateError:
        return TemplateError(f"{self.source}: key '{self.prefix}{key}': {msg}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ..., choices: tuple | None = None) -> Any:
        if key not in self.data:
            if default is ...:
                raise self._err(key, "missing")
            return default
        value = self.data[key]
        if isinstance(value, bool) and kind is not bool and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            raise self._err(key, f"expected {getattr(kind, '__name__', kind)}, got {value!r}")
        if not isinstance(value, kind):
            name = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            raise self._err(key, f"expected {name}, got {value!r}")
        if choices is not None and value not in choices:
            raise self._err(key, f"must be one of {', '.join(map(str, choices))}, got {value!r}")
        return value

    def positive(self, key: str, default: Any = ...) -> int:
        value = self.get(key, int, default)
        if value <= 0:
            raise self._err(key, f"must be a positive integer, got {value}")
        return int(value)

    def ints(self, key: str, length: int | None = None, minimum: int = 1) -> tuple[int, ...]:
        value = self.get(key, list)
        if not value or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise self._err(key, f"expected a non-empty list of integers, got {value!r}")
        if length is not None and len(value) != length:
            raise self._err(key, f"expected {length} entries (one per stage), got {len(value)}")
        if min(value) < minimum:
            raise self._err(key, f"entries must be >= {minimum}, got {value}")
        return tuple(value)

    def table(self, key: str) -> _Reader:
        value = self.get(key, dict)
        return _Reader(value, self.source, f"{self.prefix}{key}.")

    def tables(self, key: str) -> list[_Reader]:
        value = self.get(key, list)
        if not value or not all(isinstance(v, dict) for v in value):
            raise self._err(key, "expected a non-empty array of tables")
        return [_Reader(v, self.source, f"{self.prefix}{key}[{i}].") for i, v in enumerate(value)]

    def unknown(self, allowed: set[str]) -> None:
        extra = sorted(set(self.data) - allowed)
        if extra:
            raise self._err(extra[0], f"unknown key (known: {', '.join(sorted(allowed))})")


def _pool(r: _Reader) -> PoolSpec:
    r.unknown({"name", "pool", "method", "kernel", "stride", "pad", "round"})
    return PoolSpec(
        name=r.get("name", str),
        method=r.get("method", str, "MAX", choices=("MAX", "AVE")),
        kernel=r.positive("kernel"),
        stride=r.positive("stride"),
        pad=r.get("pad", int, 0),
        round=r.get("round", str, "ceil", choices=("ceil", "floor")),
    )


def _head_pool(r: _Reader) -> PoolSpec:
    spec = _pool(r)
    if spec.round != "ceil":
        raise r._err("round", "only a stem pool may round down (the head pools the whole plane)")
    return spec


def _stem(r: _Reader) -> tuple[StemConv | PoolSpec, ...]:
    items: list[StemConv | PoolSpec] = []
    for item in r.tables("stem"):
        if "pool" in item.data or "method" in item.data:
            items.append(_pool(item))
        else:
            item.unknown({"name", "relu", "num_output", "kernel", "stride", "pad"})
            items.append(StemConv(
                name=item.get("name", str),
                relu=item.get("relu", str),
                num_output=item.positive("num_output"),
                kernel=item.positive("kernel"),
                stride=item.positive("stride", 1),
                pad=item.get("pad", int, 0),
            ))
    return tuple(items)


def _module(r: _Reader) -> InceptionModule:
    r.unknown({"name", "stride", "1x1", "3x3_reduce", "3x3", "double3x3_reduce", "double3x3", "pool", "pool_proj"})
    stride = r.get("stride", int, 1, choices=(1, 2))
    return InceptionModule(
        name=r.get("name", str),
        stride=stride,
        b1x1=r.positive("1x1") if stride == 1 else 0,
        b3x3_reduce=r.positive("3x3_reduce"),
        b3x3=r.positive("3x3"),
        d3x3_reduce=r.positive("double3x3_reduce"),
        d3x3=r.positive("double3x3"),
        pool=r.get("pool", str, "AVE" if stride == 1 else "MAX", choices=("AVE", "MAX")),
        pool_proj=r.positive("pool_proj") if stride == 1 else 0,
    )


def parse_template(data: dict[str, Any], source: str) -> Template:
    r = _Reader(data, source)
    kind = r.get("kind", str, choices=KINDS)
    common = {"name", "description", "family", "kind", "explicit_stride", "stem", "head"}
    head = r.table("head")
    head.unknown({"pool", "dropout", "classifier", "prob"})
    dropout = None
    if "dropout" in head.data:
        d = head.table("dropout")
        d.unknown({"name", "ratio"})
        ratio = d.get("ratio", float)
        if not 0.0 <= ratio < 1.0:
            raise TemplateError(f"{source}: key 'head.dropout.ratio': must be in [0, 1), got {ratio}")
        dropout = (d.get("name", str), ratio)
    fields: dict[str, Any] = dict(
        source=source,
        name=r.get("name", str),
        description=r.get("description", str),
        family=r.get("family", str, choices=FAMILIES),
        kind=kind,
        explicit_stride=r.get("explicit_stride", bool, True),
        stem=_stem(r),
        head_pool=_head_pool(head.table("pool")),
        dropout=dropout,
        classifier=head.get("classifier", str, "classifier"),
        prob=head.get("prob", str, "prob"),
    )
    if kind == "bottleneck":
        r.unknown(common | {"stages"})
        s = r.table("stages")
        s.unknown({"first", "blocks", "reduce_width", "mid_width", "out_width", "groups", "strides",
                   "stride_on", "proj_kernel", "se_width", "shortcut"})
        blocks = s.ints("blocks")
        n = len(blocks)
        fields.update(
            first_stage=s.positive("first", 2),
            blocks=blocks,
            reduce_width=s.ints("reduce_width", n),
            mid_width=s.ints("mid_width", n),
            out_width=s.ints("out_width", n),
            groups=s.positive("groups", 1),
            strides=s.ints("strides", n),
            stride_on=s.get("stride_on", str, "reduce", choices=("reduce", "3x3")),
            proj_kernel=tuple(s.get("proj_kernel", list, [1] * n)),
            se_width=s.ints("se_width", n) if "se_width" in s.data else (),
            shortcut=s.get("shortcut", str, "conv", choices=("conv", "avg")),
        )
        if len(fields["proj_kernel"]) != n or any(k not in (1, 3) for k in fields["proj_kernel"]):
            raise TemplateError(f"{source}: key 'stages.proj_kernel': expected {n} entries, each 1 or 3")
        for w in fields["mid_width"]:
            if w % fields["groups"]:
                raise TemplateError(f"{source}: key 'stages.mid_width': {w} is not divisible by groups")
    else:
        r.unknown(common | {"modules"})
        fields["modules"] = tuple(_module(m) for m in r.tables("modules"))
    template = Template(**fields)
    _check_unique_names(template)
    return template


def _named_entries(t: Template) -> list[tuple[str, str]]:
    """(template key, name) of every entry whose name becomes a layer name (and the prefix of its blobs)."""
    entries: list[tuple[str, str]] = []
    for i, item in enumerate(t.stem):
        entries.append((f"stem[{i}].name", item.name))
        if isinstance(item, StemConv):
            entries.append((f"stem[{i}].relu", item.relu))
    entries += [(f"modules[{i}].name", m.name) for i, m in enumerate(t.modules)]
    entries.append(("head.pool.name", t.head_pool.name))
    if t.dropout is not None:
        entries.append(("head.dropout.name", t.dropout[0]))
    entries += [("head.classifier", t.classifier), ("head.prob", t.prob)]
    return entries


def entries_of(t: Template, layer_name: str) -> list[str]:
    """The template keys whose names could give ``layer_name`` (equal, or its prefix before a '/'); none for
    layers named by the generator itself (the bottleneck stages' conv2_1...)."""
    return [key for key, name in _named_entries(t) if layer_name == name or layer_name.startswith(f"{name}/")]


def _check_unique_names(t: Template) -> None:
    """Two entries of one name would give the net two layers writing one blob, which Caffe refuses."""
    seen: dict[str, str] = {}
    for key, name in _named_entries(t):
        if name in seen:
            raise TemplateError(f"{t.source}: key '{key}': '{name}' is already the name of '{seen[name]}'; each "
                                "entry needs a name of its own (it names the entry's layers and blobs, and Caffe "
                                "refuses a blob produced by two layers)")
        seen[name] = key


def load_template(path: str | Path) -> Template:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")  # a byte order mark is accepted, as in prototxts
    except FileNotFoundError:
        raise TemplateError(f"{p}: no such template file") from None
    except IsADirectoryError:
        raise TemplateError(f"{p}: is a directory, expected a TOML template") from None
    except (OSError, UnicodeDecodeError) as e:
        raise TemplateError(f"{p}: cannot read: {e}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise TemplateError(f"{p}: not valid TOML: {e}") from None
    return parse_template(data, str(p))

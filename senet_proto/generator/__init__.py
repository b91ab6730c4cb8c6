"""The SENet prototxt generator: generic code over the architecture templates in senet_proto/templates.

>>> from senet_proto.generator import generate, GenerateOptions
>>> net = generate("se-resnet-50", GenerateOptions(se_style="scale"))
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..caffe import caffe_pb2, format_prototxt
from ..caffe.io import HEADER
from ..caffe.validate import check_graph
from ..errors import PrototxtError, TemplateError, UsageError
from .network import build_net, build_solver
from .options import (
    DATA_SOURCES,
    LR_POLICIES,
    PHASES,
    SE_STYLES,
    SOLVER_MODES,
    SQUEEZES,
    GenerateOptions,
    parse_shape,
)
from .template import Template, entries_of, load_template

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"


@dataclass(frozen=True)
class ArchInfo:
    id: str
    template: Path

    @property
    def description(self) -> str:
        return load_template(self.template).description


ARCH_IDS = (
    "se-bn-inception",
    "se-resnet-50",
    "se-resnet-101",
    "se-resnet-152",
    "se-resnext-50",
    "se-resnext-101",
    "senet-154",
)
ARCHITECTURES: dict[str, ArchInfo] = {a: ArchInfo(a, TEMPLATE_DIR / f"{a}.toml") for a in ARCH_IDS}


def resolve_template(arch_or_template: str | Path | Template) -> Template:
    if isinstance(arch_or_template, Template):
        return arch_or_template
    if isinstance(arch_or_template, Path):
        return load_template(arch_or_template)
    info = ARCHITECTURES.get(arch_or_template)
    if info is None:
        raise UsageError(f"unknown architecture '{arch_or_template}' (known: {', '.join(ARCH_IDS)})")
    return load_template(info.template)


def generate(arch_or_template: str | Path | Template, options: GenerateOptions | None = None) -> caffe_pb2.NetParameter:
    """The NetParameter of an architecture id (or a template file) with the given options, checked with Caffe's
    graph rules (``caffe.validate.check_graph``) in each phase it has before anyone writes it."""
    template = resolve_template(arch_or_template)
    options = options or GenerateOptions()
    net = build_net(template, options)
    phases = (caffe_pb2.TRAIN, caffe_pb2.TEST) if options.phase == "train" else (caffe_pb2.TEST,)
    try:
        for phase in phases:
            check_graph(net, phase)
    except PrototxtError as e:
        raise TemplateError(f"{template.source}: the generated net breaks Caffe's rules: {e}"
                            f"{_entries_writing_one_blob(template, net)}") from None
    return net


def _entries_writing_one_blob(template: Template, net: caffe_pb2.NetParameter) -> str:
    """'; template entries ...' naming the entries whose layers write one blob (not in place), if any."""
    writers: dict[str, list[str]] = {}
    for layer in net.layer:
        for j, top in enumerate(layer.top):
            if not (j < len(layer.bottom) and layer.bottom[j] == top):
                writers.setdefault(top, []).append(layer.name)
    named = list(dict.fromkeys(key for names in writers.values() if len(names) > 1 for name in names
                               for key in entries_of(template, name)))
    return f" (written by the template entries {', '.join(named)})" if named else ""


def generate_prototxt(arch_or_template: str | Path, options: GenerateOptions | None = None) -> str:
    """Prototxt text, starting with the release's header comment."""
    return format_prototxt(generate(arch_or_template, options), header=HEADER)


def generate_solver(net_path: str, options: GenerateOptions | None = None, *,
                    weights: str | None = None) -> caffe_pb2.SolverParameter:
    """The solver of a train_val net; paths relative to the folder ``caffe train`` runs in (the solver's)."""
    return build_solver(net_path, options or GenerateOptions(phase="train"), weights=weights)


__all__ = [
    "ARCHITECTURES",
    "ARCH_IDS",
    "DATA_SOURCES",
    "LR_POLICIES",
    "PHASES",
    "SE_STYLES",
    "SOLVER_MODES",
    "SQUEEZES",
    "ArchInfo",
    "GenerateOptions",
    "Template",
    "generate",
    "generate_prototxt",
    "generate_solver",
    "load_template",
    "parse_shape",
]

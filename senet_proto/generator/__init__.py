"""The SENet prototxt generator: generic code over the architecture templates in senet_proto/templates.

>>> from senet_proto.generator import generate, GenerateOptions
>>> net = generate("se-resnet-50", GenerateOptions(se_style="scale"))
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..caffe import caffe_pb2, format_prototxt
from ..caffe.io import HEADER
from ..errors import UsageError
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
from .template import Template, load_template

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


def resolve_template(arch_or_template: str | Path) -> Template:
    if isinstance(arch_or_template, Path):
        return load_template(arch_or_template)
    info = ARCHITECTURES.get(arch_or_template)
    if info is None:
        raise UsageError(f"unknown architecture '{arch_or_template}' (known: {', '.join(ARCH_IDS)})")
    return load_template(info.template)


def generate(arch_or_template: str | Path, options: GenerateOptions | None = None) -> caffe_pb2.NetParameter:
    """The NetParameter of an architecture id (or a template file) with the given options."""
    return build_net(resolve_template(arch_or_template), options or GenerateOptions())


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

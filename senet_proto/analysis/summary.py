"""A net's shapes, parameters and multiply-adds, per layer and per stage, with the SE blocks' share."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..caffe import caffe_pb2
from .costs import layer_cost
from .shapes import Shape, infer_layers, input_shapes, with_input_shape
from .stages import assign_stages, se_layers


@dataclass(frozen=True)
class LayerRow:
    name: str
    type: str
    stage: str
    tops: tuple[Shape, ...]
    params: int
    stats: int
    macs: int
    se: bool


@dataclass
class StageRow:
    name: str
    layers: int = 0
    output: Shape = ()
    params: int = 0
    macs: int = 0
    se_params: int = 0
    se_macs: int = 0


@dataclass
class Summary:
    name: str
    inputs: dict[str, Shape]
    layers: list[LayerRow]
    stages: list[StageRow]
    se_blocks: int
    params: int = 0
    stats: int = 0
    macs: int = 0
    se_params: int = 0
    se_macs: int = 0
    outputs: dict[str, Shape] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (shapes as lists)."""
        return {
            "name": self.name,
            "inputs": {k: list(v) for k, v in self.inputs.items()},
            "outputs": {k: list(v) for k, v in self.outputs.items()},
            "params": self.params,
            "stats": self.stats,
            "macs": self.macs,
            "gmacs": self.macs / 1e9,
            "se_blocks": self.se_blocks,
            "se_params": self.se_params,
            "se_macs": self.se_macs,
            "stages": [
                {"name": s.name, "layers": s.layers, "output": list(s.output), "params": s.params, "macs": s.macs,
                 "se_params": s.se_params, "se_macs": s.se_macs}
                for s in self.stages
            ],
            "layers": [
                {"name": r.name, "type": r.type, "stage": r.stage, "tops": [list(t) for t in r.tops],
                 "params": r.params, "stats": r.stats, "macs": r.macs, "se": r.se}
                for r in self.layers
            ],
        }


def summarize(net: caffe_pb2.NetParameter, input_shape: Sequence[int] | None = None) -> Summary:
    """Shapes, learnable parameters and MACs of ``net`` (see ``costs`` for what is counted)."""
    if input_shape is not None:
        net = with_input_shape(net, input_shape)
    layers = infer_layers(net)
    stages = assign_stages(layers)
    blocks = se_layers(layers)
    in_se = {i for block in blocks for i in block}
    n_blocks = len(blocks)
    rows: list[LayerRow] = []
    by_stage: dict[str, StageRow] = {}
    inputs: dict[str, Shape] = dict(input_shapes(net))
    produced: dict[str, Shape] = {}
    consumed: set[str] = set()
    summary = Summary(name=str(net.name), inputs=inputs, layers=rows, stages=[], se_blocks=n_blocks)
    for i, ls in enumerate(layers):
        cost = layer_cost(ls)
        se = i in in_se
        stage = stages[i]
        rows.append(LayerRow(ls.name, ls.type, stage, ls.tops, cost.params, cost.stats, cost.macs, se))
        row = by_stage.setdefault(stage, StageRow(stage))
        row.layers += 1
        if ls.tops:
            row.output = ls.tops[0]
        row.params += cost.params
        row.macs += cost.macs
        summary.params += cost.params
        summary.stats += cost.stats
        summary.macs += cost.macs
        if se:
            row.se_params += cost.params
            row.se_macs += cost.macs
            summary.se_params += cost.params
            summary.se_macs += cost.macs
        consumed.update(b for b in ls.layer.bottom if b not in ls.layer.top)
        for top, shape in zip(ls.layer.top, ls.tops, strict=True):
            produced[top] = shape
            if not ls.layer.bottom:  # Input, and the data layers of a train_val net (Data, DummyData...)
                inputs[top] = shape
    summary.stages = list(by_stage.values())
    summary.outputs = {b: s for b, s in produced.items() if b not in consumed}
    return summary


def _fmt_shape(shape: Shape) -> str:
    return "×".join(str(d) for d in shape)


def _fmt_count(n: int, unit: float, digits: int = 3) -> str:
    return f"{n / unit:.{digits}f}"


def format_table(summary: Summary) -> str:
    """A fixed-width text table: one row per stage, then the totals and the SE share."""
    head = ("stage", "layers", "output", "params (M)", "MACs (G)", "SE params (M)", "SE MACs (G)")
    rows = [
        (s.name, str(s.layers), _fmt_shape(s.output), _fmt_count(s.params, 1e6), _fmt_count(s.macs, 1e9, 4),
         _fmt_count(s.se_params, 1e6), _fmt_count(s.se_macs, 1e9, 4))
        for s in summary.stages
    ]
    out_shape = ", ".join(_fmt_shape(s) for s in summary.outputs.values())
    total = ("total", str(len(summary.layers)), out_shape, _fmt_count(summary.params, 1e6),
             _fmt_count(summary.macs, 1e9, 4), _fmt_count(summary.se_params, 1e6), _fmt_count(summary.se_macs, 1e9, 4))
    widths = [max(len(r[i]) for r in [head, *rows, total]) for i in range(len(head))]

    def line(r: Sequence[str]) -> str:
        cells = [r[0].ljust(widths[0]), r[1].rjust(widths[1]), r[2].ljust(widths[2])]
        cells += [c.rjust(w) for c, w in zip(r[3:], widths[3:], strict=True)]
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * w for w in widths)
    ins = ", ".join(f"{k} {_fmt_shape(v)}" for k, v in summary.inputs.items())
    lines = [f"{summary.name or '(unnamed net)'}: input {ins}", "", line(head), rule, *map(line, rows), rule,
             line(total)]
    pct_p = 100 * summary.se_params / summary.params if summary.params else 0.0
    pct_m = 100 * summary.se_macs / summary.macs if summary.macs else 0.0
    lines += [
        "",
        f"learnable parameters: {summary.params:,} ({summary.params / 1e6:.2f} M); "
        f"BatchNorm statistics (not learnable): {summary.stats:,}",
        f"multiply-adds: {summary.macs:,} ({summary.macs / 1e9:.2f} G; the SENet paper calls multiply-adds GFLOPs)",
        f"SE blocks: {summary.se_blocks}, {summary.se_params / 1e6:.2f} M parameters ({pct_p:.1f}%), "
        f"{summary.se_macs / 1e9:.4f} G multiply-adds ({pct_m:.2f}%)",
    ]
    return "\n".join(lines) + "\n"


def format_layers(summary: Summary) -> str:
    """One line per layer: stage, name, type, output shape, params, MACs, SE membership."""
    rows = [("stage", "layer", "type", "output", "params", "MACs", "SE")]
    rows += [(r.stage, r.name, r.type, ", ".join(_fmt_shape(t) for t in r.tops), f"{r.params:,}", f"{r.macs:,}",
              "SE" if r.se else "") for r in summary.layers]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for r in rows:
        cells = [c.ljust(w) for c, w in zip(r[:4], widths[:4], strict=True)]
        cells += [c.rjust(w) for c, w in zip(r[4:6], widths[4:6], strict=True)] + [r[6]]
        out.append("  ".join(cells).rstrip())
    return "\n".join(out) + "\n"

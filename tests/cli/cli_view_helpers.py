"""Helpers for the CLI tests of info/draw/view: the official prototxts, a V1 net and a CliRunner wrapper."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result
from legacy_nets import v1_net
from official_nets import official_path

from senet_proto.caffe import write_prototxt
from senet_proto.cli import main


def official(name: str) -> str:
    """The official prototxt ``name`` (the release's file, or the identical generated net: see official_nets)."""
    return str(official_path(name))


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def one_error_line(result: Result) -> str:
    """The stderr of a failed command: exactly one line, no traceback."""
    err = result.stderr.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    return err


def v1_net_file(path: Path, *, bottom_of_fc: str = "pool") -> str:
    """A legacy V1 net written to ``path`` (``legacy_nets.v1_net``): data 1x3x8x8 -> conv 3x3 pad 1 to 4
    channels (+bias) -> in-place ReLU -> MAX pool 2/2 -> fc 10 -> softmax."""
    net = v1_net(name="v1net", input_dim=(1, 3, 8, 8), pool="MAX", pool_kernel=2, fc_outputs=10,
                 fc_bottom=bottom_of_fc)
    write_prototxt(net, path)
    return str(path)

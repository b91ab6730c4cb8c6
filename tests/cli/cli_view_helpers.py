"""Helpers for the CLI tests of info/draw/view: the official prototxts and a CliRunner wrapper."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from senet_proto.cli import main


def find_official() -> Path:
    for parent in Path(__file__).resolve().parents:
        if (parent / "shared" / "official").is_dir():
            return parent / "shared" / "official"
    return Path(__file__).resolve().parents[2].parent / "shared" / "official"


OFFICIAL = find_official()


def official(name: str) -> str:
    path = OFFICIAL / f"{name}.prototxt"
    assert path.is_file(), f"official prototxt missing: {path}"
    return str(path)


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def one_error_line(result: Result) -> str:
    """The stderr of a failed command: exactly one line, no traceback."""
    err = result.stderr.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    return err

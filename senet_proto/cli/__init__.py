"""The ``senet-proto`` command line: a thin click layer over the library.

Each command lives in its own module here; ``COMMANDS`` maps a command name
to ``module:function`` and modules are imported only when that command runs,
so ``senet-proto list`` does not pay for torch.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from .. import __version__
from ..errors import SenetProtoError
from ..interrupts import Terminated, terminate_as_exception
from ..optional import import_optional

COMMANDS: dict[str, str] = {
    "list": "senet_proto.cli.generate:list_cmd",
    "generate": "senet_proto.cli.generate:generate_cmd",
    "convert": "senet_proto.cli.convert:convert_cmd",
    "export": "senet_proto.cli.export:export_cmd",
    "weights": "senet_proto.cli.weights:weights_cmd",
    "draw": "senet_proto.cli.draw:draw_cmd",
    "info": "senet_proto.cli.info:info_cmd",
    "view": "senet_proto.cli.view:view_cmd",
    "verify": "senet_proto.cli.verify:verify_cmd",
    "predict": "senet_proto.cli.predict:predict_cmd",
    "evaluate": "senet_proto.cli.evaluate:evaluate_cmd",
}

HELP = """senet-proto: the Caffe SENet networks, generated, converted, verified and viewed.

\b
Examples:
  senet-proto list
  senet-proto generate se-resnet-50 -o SE-ResNet-50.prototxt

Exit codes: 0 success, 1 bad input or failed operation, 2 usage error,
3 a verification past tolerance, 4 an internal error (a bug: please report it).
"""


class LazyGroup(click.Group):
    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        """Like click's main, but usage errors too end in ONE line on stderr (exit 2), and SIGTERM/SIGHUP
        end every command as Ctrl-C does (clean-up runs; one line; exit 143/129)."""
        plain_main: Any = super().main
        with terminate_as_exception():
            if not standalone_mode:
                return plain_main(*args, standalone_mode=False, **kwargs)
            self._standalone(plain_main, *args, **kwargs)

    @staticmethod
    def _standalone(plain_main: Any, *args: Any, **kwargs: Any) -> None:
        try:
            rv = plain_main(*args, standalone_mode=False, **kwargs)
        except Terminated as e:
            click.echo("senet-proto: terminated", err=True)
            sys.exit(e.exit_code)
        except SenetProtoError as e:  # raised outside a command body (a command module that cannot be imported)
            click.echo(f"senet-proto: error: {e}", err=True)
            sys.exit(e.exit_code)
        except click.exceptions.Abort:
            click.echo("senet-proto: interrupted", err=True)
            sys.exit(130)
        except click.ClickException as e:
            if type(e).__name__ == "NoArgsIsHelpError":  # bare `senet-proto`: show the help
                e.show()
                sys.exit(e.exit_code)
            where = f" (see {e.ctx.command_path} --help)" if isinstance(e, click.UsageError) and e.ctx else ""
            message = " ".join(e.format_message().split())
            click.echo(f"senet-proto: error: {message}{where}", err=True)
            sys.exit(e.exit_code)
        sys.exit(rv if isinstance(rv, int) else 0)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attr = target.split(":")
        cmd = getattr(import_optional(module, what=cmd_name), attr)
        assert isinstance(cmd, click.Command)
        return cmd


@click.group(cls=LazyGroup, help=HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="senet-proto")
def main() -> None:
    pass

"""Shared CLI plumbing: error handling, verbosity, progress.

Library code raises SenetProtoError subclasses; ``guarded`` turns them into one
line on stderr and the error's exit code. Anything else is a bug: one line
too (the traceback only with -v), exit code 4.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import click

from ..errors import SenetProtoError
from ..interrupts import Terminated
from ..optional import translate

F = TypeVar("F", bound=Callable[..., Any])

INTERNAL_ERROR = 4


def fail(message: str, code: int = 1) -> None:
    click.echo(f"senet-proto: error: {message}", err=True)
    sys.exit(code)


def guarded(fn: F) -> F:
    """Wrap a command body so that errors end in one line and an exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except SenetProtoError as e:
            fail(str(e), e.exit_code)
        except BrokenPipeError:  # e.g. `senet-proto generate ... | head`: the reader has gone, not an error
            with contextlib.suppress(OSError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(0)
        except KeyboardInterrupt:
            click.echo("senet-proto: interrupted", err=True)
            sys.exit(130)
        except Terminated as e:  # SIGTERM/SIGHUP (interrupts.terminate_as_exception, held by the CLI's main)
            click.echo("senet-proto: terminated", err=True)
            sys.exit(e.exit_code)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except ModuleNotFoundError as e:  # an optional package (torch, onnx...) that this install lacks
            ctx = click.get_current_context(silent=True)
            missing = translate(e, ctx.info_name if ctx else None)
            if missing is None:
                _internal(e)
            else:
                fail(str(missing), missing.exit_code)
        except Exception as e:
            _internal(e)

    return wrapper  # type: ignore[return-value]


def _internal(e: BaseException) -> None:
    if logging.getLogger("senet_proto").isEnabledFor(logging.DEBUG):
        traceback.print_exc()
    fail(f"internal error: {type(e).__name__}: {e} (a bug; rerun with -v for details)", INTERNAL_ERROR)


class _CurrentStderr(logging.Handler):
    """Writes to whatever sys.stderr is when a record is emitted (CliRunner swaps it per invocation)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            click.echo(self.format(record), err=True)
        except Exception:
            self.handleError(record)


def setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING
    if quiet:
        level = logging.ERROR
    elif verbose >= 2:
        level = logging.DEBUG
    elif verbose == 1:
        level = logging.INFO
    from ..progress import set_enabled

    set_enabled(not quiet)
    logger = logging.getLogger("senet_proto")
    logger.setLevel(level)
    if not logger.handlers:
        handler = _CurrentStderr()
        handler.setFormatter(logging.Formatter("senet-proto: %(message)s"))
        logger.addHandler(handler)


def verbosity_options(fn: F) -> F:
    """Add -v/--verbose and -q/--quiet to a command; they configure logging and progress bars."""

    def cb_verbose(ctx: click.Context, param: click.Parameter, value: int) -> int:
        ctx.meta["senet_proto.verbose"] = value
        setup_logging(value, ctx.meta.get("senet_proto.quiet", False))
        return value

    def cb_quiet(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
        ctx.meta["senet_proto.quiet"] = value
        setup_logging(ctx.meta.get("senet_proto.verbose", 0), value)
        return value

    fn = click.option("-v", "--verbose", count=True, expose_value=False, is_eager=True, callback=cb_verbose,
                      help="More messages (-vv for debug, tracebacks of internal errors).")(fn)
    fn = click.option("-q", "--quiet", is_flag=True, expose_value=False, is_eager=True, callback=cb_quiet,
                      help="Only errors; no progress bars.")(fn)
    return fn


def show_progress() -> bool:
    """Progress bars only on a terminal and not with -q."""
    ctx = click.get_current_context(silent=True)
    quiet = bool(ctx and ctx.meta.get("senet_proto.quiet"))
    return sys.stderr.isatty() and not quiet

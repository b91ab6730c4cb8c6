"""Shared CLI plumbing: error handling, verbosity, progress, outputs.

Library code raises SenetProtoError subclasses; ``guarded`` turns them into one
line on stderr and the error's exit code. Anything else is a bug: one line
too (the traceback only with -v), exit code 4.

Outputs (for every command that writes one): ``check_text_output`` / ``check_binary_output`` validate ``-o``
before any work (``-`` is standard output for text; a suffix that names another kind of file is a usage
error), ``write_text_output`` writes, ``status`` prints the "wrote ..." line (stderr, none with -q), and
``net_weights_pair`` adds "the arguments may be swapped" to a PROTOTXT CAFFEMODEL command's errors.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import click

from ..errors import SenetProtoError, UsageError, WrongFileKindError
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
                      help="Print nothing but errors and the data asked for (no 'wrote ...', warnings, "
                           "progress bars).")(fn)
    return fn


def is_quiet() -> bool:
    """-q was given: print nothing but errors (and the data a command was asked to print)."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.meta.get("senet_proto.quiet"))


def show_progress() -> bool:
    """Progress bars only on a terminal and not with -q."""
    return sys.stderr.isatty() and not is_quiet()


def status(message: str) -> None:
    """A status line ("wrote OUT ...") on stderr, so that standard output stays the data; none with -q."""
    if not is_quiet():
        click.echo(message, err=True)


STDOUT = "-"
PROTOTXT_SUFFIXES = (".prototxt", ".pbtxt")


def is_stdout(path: str | os.PathLike[str] | None) -> bool:
    """``-o -``: standard output."""
    return path is not None and os.fspath(path) == STDOUT


def check_text_output(path: str | os.PathLike[str] | None, what: str, accepted: tuple[str, ...] = PROTOTXT_SUFFIXES,
                      force: bool = False, option: str = "-o") -> None:
    """Before any work: a text output (None or ``-``: standard output) whose suffix fits and that may be written."""
    from ..filekinds import check_output_suffix
    from ..fsutil import check_output_path

    if path is None or is_stdout(path):
        return
    check_output_suffix(path, accepted, what, option)
    check_output_path(path, force=force)


def check_binary_output(path: str | os.PathLike[str], what: str, accepted: tuple[str, ...], force: bool = False,
                        option: str = "-o") -> None:
    """Before any work: a binary output (``-`` is refused: a terminal is no place for it) whose suffix fits."""
    from ..filekinds import check_output_suffix
    from ..fsutil import check_output_path

    if is_stdout(path):
        raise UsageError(f"{option} -: {what} is binary; give a file name")
    check_output_suffix(path, accepted, what, option)
    check_output_path(path, force=force)


def write_text_output(path: str | os.PathLike[str] | None, text: str, force: bool = False) -> None:
    """Text to ``path`` atomically, or to standard output for None or ``-``."""
    from ..fsutil import atomic_write_text

    if path is None or is_stdout(path):
        click.echo(text, nl=False)
    else:
        atomic_write_text(path, text, force=force)


SWAPPED = {("net", "caffemodel"), ("net", "solverstate"), ("caffemodel", "net"), ("caffemodel", "solver")}


@contextlib.contextmanager
def net_weights_pair() -> Iterator[None]:
    """Around a command that reads PROTOTXT CAFFEMODEL: a weights file where the net belongs (or a net where the
    weights belong) gets "the arguments may be swapped" on its one line."""
    try:
        yield
    except WrongFileKindError as e:
        if (e.expected, e.kind) not in SWAPPED:
            raise
        raise WrongFileKindError(f"{e}; the arguments may be swapped (PROTOTXT first, then CAFFEMODEL)",
                                 e.kind, e.expected) from None

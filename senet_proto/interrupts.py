"""SIGTERM and SIGHUP end a run as Ctrl-C does: an exception unwinds the stack, so every ``finally`` and
``except BaseException`` clean-up runs (temporary files, job directories, a half-made root, child processes).

``terminate_as_exception()`` turns the signals into ``Terminated`` while it is active, in the main thread and
only where nobody else handles them (a host program's own handlers are left alone). The CLI's ``main`` holds it
around every command; the reference backend holds it around its own work, for library callers.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class Terminated(BaseException):
    """The process received ``signum`` (SIGTERM or SIGHUP); not an Exception, so ``except Exception`` lets it by."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"terminated by {signal.Signals(signum).name}")
        self.signum = signum

    @property
    def exit_code(self) -> int:
        """The shell's code for a death by this signal (143 for SIGTERM, 129 for SIGHUP)."""
        return 128 + self.signum


_fired = threading.Event()


def _raise(signum: int, frame: FrameType | None) -> None:
    # Once is enough: a second signal must not interrupt the clean-up that the first one started.
    _fired.set()
    for sig in SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    raise Terminated(signum)


@contextlib.contextmanager
def terminate_as_exception() -> Iterator[None]:
    """While active, SIGTERM/SIGHUP raise ``Terminated`` in the main thread (no-op elsewhere)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved: dict[int, Any] = {}
    for sig in SIGNALS:
        current = signal.getsignal(sig)
        if current in (signal.SIG_DFL, _raise):  # someone else's handler (or SIG_IGN, e.g. nohup) stays
            saved[sig] = current
            signal.signal(sig, _raise)
    try:
        yield
    finally:
        for sig, handler in saved.items():
            # an inner block restoring ``_raise`` after a signal: stay deaf until the outermost one ends
            signal.signal(sig, signal.SIG_IGN if handler is _raise and _fired.is_set() else handler)
        if saved and all(handler is not _raise for handler in saved.values()):
            _fired.clear()


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """SIGINT/SIGTERM/SIGHUP held back (delivered when the block ends) around a step that must not be cut in two,
    such as making a temporary directory and taking note of it for the clean-up."""
    held = {signal.SIGINT, *SIGNALS}
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)

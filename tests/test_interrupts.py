"""interrupts.terminate_as_exception: SIGTERM/SIGHUP become Terminated inside, handlers come back outside."""

from __future__ import annotations

import os
import signal

import pytest

from senet_proto.interrupts import Terminated, terminate_as_exception


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_signal_raises_and_clean_up_runs_undisturbed(sig, code):
    cleaned = []
    with pytest.raises(Terminated) as info, terminate_as_exception():
        try:
            os.kill(os.getpid(), sig)
            signal.sigtimedwait([], 0)  # let the handler run (it raises)
        finally:
            os.kill(os.getpid(), signal.SIGTERM)  # a second signal during clean-up is ignored
            cleaned.append(True)
    assert info.value.exit_code == code and cleaned == [True]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL and signal.getsignal(signal.SIGHUP) is signal.SIG_DFL


def test_nested_blocks_stay_deaf_after_a_signal_until_the_outermost_ends():
    with pytest.raises(Terminated), terminate_as_exception():
        try:
            with terminate_as_exception():
                os.kill(os.getpid(), signal.SIGTERM)
                signal.sigtimedwait([], 0)
        finally:
            assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
            raise Terminated(signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    with pytest.raises(Terminated), terminate_as_exception():  # armed again for the next run
        os.kill(os.getpid(), signal.SIGTERM)
        signal.sigtimedwait([], 0)


def test_a_host_programs_own_handler_is_left_alone():
    seen = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(signum))
    try:
        with terminate_as_exception():
            os.kill(os.getpid(), signal.SIGTERM)
            signal.sigtimedwait([], 0)
        assert seen == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, previous)

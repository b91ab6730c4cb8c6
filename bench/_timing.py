"""Best-of timing shared by the benchmarks."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping


def best_times(
    calls: Mapping[str, Callable[[], object]], repeats: int, sync: Callable[[], object] | None = None
) -> dict[str, float]:
    """Best wall time in seconds of each call over ``repeats`` rounds, after one warm-up call of each.

    The calls run interleaved (one of each per round), so that load from other processes hits all alike.
    ``sync`` (e.g. ``torch.cuda.synchronize``) runs right before and right after each timed call.
    """
    for call in calls.values():
        call()
    best = dict.fromkeys(calls, float("inf"))
    for _ in range(repeats):
        for name, call in calls.items():
            if sync is not None:
                sync()
            t0 = time.perf_counter()
            call()
            if sync is not None:
                sync()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best

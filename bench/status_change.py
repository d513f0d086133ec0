"""From a state change to a subscriber's callback, over N changes (default 2000): median and p99; then
the same with a second subscriber that sleeps 1 s in every callback (its queue fills and drops the
oldest: it must cost the first subscriber and the producer nothing). Also the producer's own cost, the
time its `set_*` call takes (under the model's lock: build the snapshot, compare, queue).

Each change is a producer's `set_agent_errors` with a new error (a change of the §5 projection) on the
real clock; the next change is made once the callback has had the previous one, so every figure is one
change alone through an idle queue and a thread waking up.

usage: python bench/status_change.py [--changes N]
"""

from __future__ import annotations

import argparse
import queue
import statistics
import threading
import time

from common import percentile

from agent.clock import SystemClock
from agent.secr.register import Mode, RegisterStatus
from agent.status import Snapshot, StatusModel

SLEEP_S = 1.0


def idle_register() -> RegisterStatus:
    return RegisterStatus(
        mode=Mode.ONLINE,
        blocked_reason=None,
        shift_open=True,
        shift_id=1,
        z_done=False,
        next_local_num=1,
        pending_documents=0,
        oldest_pending_at=None,
        offline_session_id=None,
        has_offline_seed=True,
        offline_allowed=True,
        session_minutes=0,
        month_minutes=0,
        max_session_minutes=2160,
        max_month_minutes=10080,
        numbers_left=None,
        warnings=[],
        problem=None,
        upload_error=None,
        last_sync_at=None,
        identity_known=True,
    )


def run(changes: int, *, with_sleeper: bool) -> tuple[list[float], list[float], int]:
    """Milliseconds change -> callback, milliseconds per set_* call, and what the sleeper dropped."""
    model = StatusModel(SystemClock(), idle_register())
    arrivals: queue.SimpleQueue[tuple[tuple[str, ...], float]] = queue.SimpleQueue()

    def on_change(snapshot: Snapshot) -> None:
        arrivals.put((snapshot.agent_errors, time.perf_counter()))

    release = threading.Event()
    model.subscribe(on_change, name="measured")
    sleeper = (
        model.subscribe(lambda snapshot: release.wait(SLEEP_S), name="sleeper") if with_sleeper else None
    )
    arrivals.get(timeout=5)  # the current state, given at subscribe
    latency, producer = [], []
    for n in range(changes):
        errors = (f"change {n}",)
        start = time.perf_counter()
        model.set_agent_errors(errors)
        producer.append((time.perf_counter() - start) * 1000)
        got, at = arrivals.get(timeout=5)
        assert got == errors, (got, errors)
        latency.append((at - start) * 1000)
    dropped = sleeper.dropped if sleeper is not None else 0
    release.set()
    model.close()
    return latency, producer, dropped


def report(label: str, latency: list[float], producer: list[float]) -> None:
    print(
        f"{label}: change -> callback ms: median {statistics.median(latency):.3f},"
        f" p99 {percentile(latency, 99):.3f} (target: median < 5);"
        f" producer's set_* ms: median {statistics.median(producer):.3f}, p99 {percentile(producer, 99):.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--changes", type=int, default=2000)
    args = parser.parse_args()
    run(100, with_sleeper=False)  # warm-up: imports, first threads
    latency, producer, _ = run(args.changes, with_sleeper=False)
    print(f"changes: {args.changes}, each a new agent error, one at a time, real clock")
    report("one subscriber", latency, producer)
    latency, producer, dropped = run(args.changes, with_sleeper=True)
    report(f"with a second subscriber sleeping {SLEEP_S:.0f} s per change", latency, producer)
    print(f"  the sleeping subscriber's queue dropped {dropped} of {args.changes} (it keeps the newest)")


if __name__ == "__main__":
    main()

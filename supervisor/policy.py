"""The supervisor's decisions, as pure functions of data: no clock, no I/O, no randomness.

Like OTP's supervisor.erl: whether to restart, how long to wait, and when to
give up are small functions the loop calls with the facts, so each can be
tested on its own and read in one screen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from config import RestartSettings


class State(StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    BACKOFF = "backoff"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"


class Intent(StrEnum):
    """Why the supervisor itself is ending a worker; no intent means the exit was a failure."""

    STOP = "stop"
    RESTART = "restart"


_AFTER_EXIT = frozenset({State.STARTING, State.BACKOFF, State.FAILED, State.STOPPED})
TRANSITIONS: dict[State, frozenset[State]] = {
    State.STOPPED: frozenset({State.STARTING}),
    State.STARTING: _AFTER_EXIT | {State.RUNNING, State.STOPPING},
    State.RUNNING: _AFTER_EXIT | {State.STOPPING},
    State.STOPPING: _AFTER_EXIT,
    State.BACKOFF: frozenset({State.STARTING, State.STOPPED}),
    State.FAILED: frozenset({State.STARTING}),
}


@dataclass(frozen=True)
class Decision:
    """What to do with a worker whose process just ended."""

    state: State  # STARTING: now; BACKOFF: after delay_s; FAILED or STOPPED: nothing more
    delay_s: float = 0.0


def should_restart(policy: str, exit_code: int | None) -> bool:
    """OTP restart types: permanent always, transient after an abnormal end, temporary never.

    ``exit_code`` is the process's exit code, or None when a signal ended it.
    """
    if policy == "permanent":
        return True
    if policy == "transient":
        return exit_code != 0
    return False


def backoff_delay(failures: int, initial_s: float, max_s: float, jitter: float) -> float:
    """Seconds to wait before restarting a worker after its ``failures``-th failure in a row.

    The first restart is immediate (a crash is most often a one-off, and
    waiting only delays recovery); after that the delay doubles from
    ``initial_s`` up to ``max_s``. ``jitter`` in [0, 1) spreads the upper
    half of each delay, so workers that failed together do not retry in step.
    """
    if failures <= 1:
        return 0.0
    doublings = min(failures - 2, 64)  # enough to pass any max_s; more would overflow
    ceiling = min(max_s, initial_s * 2**doublings)
    return ceiling / 2 + ceiling / 2 * jitter


def recent(restarts: Sequence[float], now: float, within_s: float) -> list[float]:
    """The restart times still inside the sliding intensity window."""
    return [at for at in restarts if now - at < within_s]


def intensity_exceeded(
    restarts: Sequence[float], now: float, max_restarts: int, within_s: float
) -> bool:
    """True when one more restart would make more than ``max_restarts`` within ``within_s``."""
    return len(recent(restarts, now, within_s)) >= max_restarts


def failures_in_a_row(previous: int, uptime_s: float, reset_after_s: float) -> int:
    """Count this failure; a run of at least ``reset_after_s`` means the streak had ended."""
    return 1 if uptime_s >= reset_after_s else previous + 1


def after_exit(
    intent: Intent | None,
    policy: str,
    exit_code: int | None,
    *,
    restarts: Sequence[float],
    failures: int,
    now: float,
    limits: RestartSettings,
    jitter: float,
) -> Decision:
    """Decide a worker's next state once its process has ended."""
    if intent is Intent.STOP:
        return Decision(State.STOPPED)
    if intent is Intent.RESTART:
        return Decision(State.STARTING)
    if not should_restart(policy, exit_code):
        return Decision(State.STOPPED)
    if intensity_exceeded(restarts, now, limits.max_restarts, limits.within_s):
        return Decision(State.FAILED)
    delay = backoff_delay(failures, limits.backoff_initial_s, limits.backoff_max_s, jitter)
    return Decision(State.BACKOFF if delay > 0 else State.STARTING, delay)

"""The supervisor's pure decisions: OTP restart types, backoff, intensity window, transitions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config import RestartSettings
from supervisor.policy import (
    TRANSITIONS,
    Decision,
    Intent,
    State,
    after_exit,
    backoff_delay,
    failures_in_a_row,
    intensity_exceeded,
    recent,
    should_restart,
)

SIGNALLED = None  # the exit code of a process a signal ended

# ---------------------------------------------------------------- should_restart


@pytest.mark.parametrize(
    ("policy", "exit_code", "expected"),
    [
        ("permanent", 0, True),
        ("permanent", 1, True),
        ("permanent", 255, True),
        ("permanent", SIGNALLED, True),
        ("transient", 0, False),
        ("transient", 1, True),
        ("transient", 3, True),
        ("transient", SIGNALLED, True),
        ("temporary", 0, False),
        ("temporary", 1, False),
        ("temporary", SIGNALLED, False),
    ],
)
def test_should_restart_follows_otp_restart_types(
    policy: str, exit_code: int | None, expected: bool
) -> None:
    assert should_restart(policy, exit_code) is expected


# ---------------------------------------------------------------- backoff_delay


@pytest.mark.parametrize("jitter", [0.0, 0.5, 0.999999])
@pytest.mark.parametrize("failures", [0, 1])
def test_first_failure_restarts_immediately(failures: int, jitter: float) -> None:
    assert backoff_delay(failures, 0.1, 30.0, jitter) == 0.0


def test_backoff_doubles_then_caps_with_zero_jitter() -> None:
    # Jitter 0 is the bottom of the spread: half of each ceiling.
    delays = [backoff_delay(failures, 1.0, 8.0, 0.0) for failures in range(1, 9)]
    assert delays == [0.0, 0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0]


def test_backoff_doubles_then_caps_with_jitter_near_one() -> None:
    # Jitter close to 1 approaches the ceiling itself, never reaching it.
    ceilings = [0.0, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    for failures, ceiling in enumerate(ceilings, start=1):
        delay = backoff_delay(failures, 1.0, 8.0, 0.999999)
        if ceiling == 0.0:
            assert delay == 0.0
        else:
            assert ceiling * 0.999 < delay < ceiling


def test_backoff_cap_below_a_doubling_step_is_respected() -> None:
    # 0.1, 0.2, 0.4, 0.8 -> capped at 0.5 from the fifth failure on.
    assert backoff_delay(5, 0.1, 0.5, 0.0) == pytest.approx(0.25)
    assert backoff_delay(4, 0.1, 0.5, 0.0) == pytest.approx(0.2)
    assert backoff_delay(50, 0.1, 0.5, 0.999) == pytest.approx(0.49975)


@given(
    failures=st.integers(min_value=0, max_value=500),
    initial_s=st.floats(min_value=0.001, max_value=10.0),
    extra_s=st.floats(min_value=0.0, max_value=100.0),
    jitter=st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
)
def test_backoff_is_within_zero_and_max(
    failures: int, initial_s: float, extra_s: float, jitter: float
) -> None:
    max_s = initial_s + extra_s  # config guarantees backoff_max_s >= backoff_initial_s
    delay = backoff_delay(failures, initial_s, max_s, jitter)
    assert 0.0 <= delay <= max_s
    if failures >= 2:
        # Never below half the ceiling: the jitter only spreads the upper half.
        assert delay >= min(initial_s, max_s) / 2


@given(
    failures=st.integers(min_value=0, max_value=500),
    initial_s=st.floats(min_value=0.001, max_value=10.0),
    extra_s=st.floats(min_value=0.0, max_value=100.0),
    jitter=st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
)
def test_backoff_never_decreases_with_more_failures(
    failures: int, initial_s: float, extra_s: float, jitter: float
) -> None:
    max_s = initial_s + extra_s
    assert backoff_delay(failures, initial_s, max_s, jitter) <= backoff_delay(
        failures + 1, initial_s, max_s, jitter
    )


def test_backoff_survives_a_very_long_failure_streak() -> None:
    # With the defaults (5 restarts in 60 s, delays 15-30 s once capped) a worker that
    # crashes right after every start never exceeds the intensity limit, so its
    # streak keeps growing: after ~1024 restarts (hours) the arbiter must still decide.
    limits = RestartSettings()
    assert backoff_delay(1026, limits.backoff_initial_s, limits.backoff_max_s, 0.0) == (
        limits.backoff_max_s / 2
    )


# ---------------------------------------------------------------- the intensity window


def test_recent_drops_entries_at_or_older_than_the_window() -> None:
    assert recent([0.0, 39.9, 40.0, 40.1, 99.0], now=100.0, within_s=60.0) == [40.1, 99.0]
    assert recent([], now=100.0, within_s=60.0) == []


def test_recent_keeps_everything_inside_the_window_in_order() -> None:
    times = [10.0, 11.0, 12.5, 30.0]
    assert recent(times, now=31.0, within_s=60.0) == times


def test_max_restarts_zero_makes_the_first_failure_fatal() -> None:
    assert intensity_exceeded([], now=0.0, max_restarts=0, within_s=60.0)


def test_exactly_max_restarts_are_allowed_and_the_next_fails() -> None:
    restarts: list[float] = []
    for attempt in range(3):
        assert not intensity_exceeded(restarts, now=float(attempt), max_restarts=3, within_s=60.0)
        restarts.append(float(attempt))
    assert intensity_exceeded(restarts, now=3.0, max_restarts=3, within_s=60.0)


def test_old_restarts_leave_the_window() -> None:
    restarts = [0.0, 1.0, 2.0]
    assert intensity_exceeded(restarts, now=59.0, max_restarts=3, within_s=60.0)
    # At 60.0 the restart at 0.0 is exactly within_s old and no longer counts.
    assert not intensity_exceeded(restarts, now=60.0, max_restarts=3, within_s=60.0)
    assert not intensity_exceeded(restarts, now=1000.0, max_restarts=1, within_s=60.0)


# ---------------------------------------------------------------- failures_in_a_row


def test_failure_streak_grows_while_runs_are_short() -> None:
    failures = 0
    for expected in range(1, 6):
        failures = failures_in_a_row(failures, uptime_s=0.5, reset_after_s=30.0)
        assert failures == expected


def test_failure_streak_resets_after_a_long_enough_run() -> None:
    assert failures_in_a_row(7, uptime_s=30.0, reset_after_s=30.0) == 1
    assert failures_in_a_row(7, uptime_s=3600.0, reset_after_s=30.0) == 1
    assert failures_in_a_row(7, uptime_s=29.999, reset_after_s=30.0) == 8


def test_a_reset_streak_restarts_immediately_again() -> None:
    failures = failures_in_a_row(9, uptime_s=31.0, reset_after_s=30.0)
    assert backoff_delay(failures, 0.1, 30.0, 0.5) == 0.0


# ---------------------------------------------------------------- after_exit


LIMITS = RestartSettings(
    max_restarts=3, within_s=60.0, backoff_initial_s=1.0, backoff_max_s=8.0, reset_after_s=30.0
)


def decide(
    intent: Intent | None = None,
    policy: str = "permanent",
    exit_code: int | None = 1,
    *,
    restarts: tuple[float, ...] = (),
    failures: int = 1,
    now: float = 100.0,
    limits: RestartSettings = LIMITS,
    jitter: float = 0.0,
) -> Decision:
    return after_exit(
        intent,
        policy,
        exit_code,
        restarts=list(restarts),
        failures=failures,
        now=now,
        limits=limits,
        jitter=jitter,
    )


def test_first_failure_of_a_permanent_worker_restarts_now() -> None:
    assert decide() == Decision(State.STARTING, 0.0)


def test_later_failures_back_off() -> None:
    assert decide(failures=2, restarts=(99.0,)) == Decision(State.BACKOFF, 0.5)
    decision = decide(failures=4, restarts=(97.0, 98.0), jitter=0.5)
    assert decision.state is State.BACKOFF
    assert decision.delay_s == pytest.approx(3.0)


@pytest.mark.parametrize("policy", ["transient", "temporary"])
def test_clean_exit_of_non_permanent_worker_stops(policy: str) -> None:
    assert decide(policy=policy, exit_code=0) == Decision(State.STOPPED)


def test_abnormal_exit_of_transient_worker_restarts() -> None:
    assert decide(policy="transient", exit_code=2).state is State.STARTING
    assert decide(policy="transient", exit_code=SIGNALLED).state is State.STARTING


@pytest.mark.parametrize("exit_code", [0, 1, SIGNALLED])
def test_temporary_worker_is_never_restarted(exit_code: int | None) -> None:
    assert decide(policy="temporary", exit_code=exit_code) == Decision(State.STOPPED)


def test_clean_exit_of_permanent_worker_restarts() -> None:
    assert decide(policy="permanent", exit_code=0).state is State.STARTING


def test_intensity_exceeded_fails_the_worker() -> None:
    assert decide(restarts=(90.0, 95.0, 99.0), failures=4) == Decision(State.FAILED)


def test_intensity_window_slides() -> None:
    # The same three restarts, but the oldest is now outside the 60 s window.
    decision = decide(restarts=(40.0, 95.0, 99.0), failures=4)
    assert decision.state is State.BACKOFF


def test_max_restarts_zero_fails_on_first_failure() -> None:
    limits = RestartSettings(max_restarts=0)
    assert decide(limits=limits) == Decision(State.FAILED)


def test_a_not_restarted_exit_is_stopped_even_when_intensity_is_exceeded() -> None:
    # Nothing would be restarted, so there is nothing to give up on.
    decision = decide(policy="transient", exit_code=0, restarts=(97.0, 98.0, 99.0), failures=4)
    assert decision == Decision(State.STOPPED)


@pytest.mark.parametrize("policy", ["permanent", "transient", "temporary"])
@pytest.mark.parametrize("exit_code", [0, 1, SIGNALLED])
def test_intent_stop_overrides_everything(policy: str, exit_code: int | None) -> None:
    decision = decide(
        Intent.STOP, policy, exit_code, restarts=(97.0, 98.0, 99.0), failures=10, jitter=0.9
    )
    assert decision == Decision(State.STOPPED)


@pytest.mark.parametrize("policy", ["permanent", "transient", "temporary"])
@pytest.mark.parametrize("exit_code", [0, 1, SIGNALLED])
def test_intent_restart_overrides_everything(policy: str, exit_code: int | None) -> None:
    decision = decide(
        Intent.RESTART, policy, exit_code, restarts=(97.0, 98.0, 99.0), failures=10, jitter=0.9
    )
    assert decision == Decision(State.STARTING, 0.0)


def test_a_crash_loop_runs_through_backoff_into_failed() -> None:
    """Drive the decisions the way the arbiter does, for a worker that dies at once."""
    restarts: list[float] = []
    failures = 0
    now = 0.0
    states = []
    while True:
        failures = failures_in_a_row(failures, uptime_s=0.01, reset_after_s=LIMITS.reset_after_s)
        restarts = recent(restarts, now, LIMITS.within_s)
        decision = after_exit(
            None,
            "permanent",
            1,
            restarts=restarts,
            failures=failures,
            now=now,
            limits=LIMITS,
            jitter=0.0,
        )
        states.append((decision.state, decision.delay_s))
        if decision.state is State.FAILED:
            break
        restarts.append(now)
        now += decision.delay_s + 0.01
    assert states == [
        (State.STARTING, 0.0),
        (State.BACKOFF, 0.5),
        (State.BACKOFF, 1.0),
        (State.FAILED, 0.0),
    ]


@given(
    intent=st.sampled_from([None, Intent.STOP, Intent.RESTART]),
    policy=st.sampled_from(["permanent", "transient", "temporary"]),
    exit_code=st.one_of(st.none(), st.integers(min_value=0, max_value=255)),
    restarts=st.lists(st.floats(min_value=0.0, max_value=100.0), max_size=10),
    failures=st.integers(min_value=1, max_value=200),
    jitter=st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
)
def test_every_decision_is_a_legal_transition_after_an_exit(
    *,
    intent: Intent | None,
    policy: str,
    exit_code: int | None,
    restarts: list[float],
    failures: int,
    jitter: float,
) -> None:
    decision = after_exit(
        intent,
        policy,
        exit_code,
        restarts=restarts,
        failures=failures,
        now=100.0,
        limits=LIMITS,
        jitter=jitter,
    )
    for before in (State.STARTING, State.RUNNING, State.STOPPING):
        assert decision.state in TRANSITIONS[before]
    assert 0.0 <= decision.delay_s <= LIMITS.backoff_max_s
    # A delay only ever comes with BACKOFF, and BACKOFF always has one.
    assert (decision.state is State.BACKOFF) == (decision.delay_s > 0)


# ---------------------------------------------------------------- TRANSITIONS


def test_every_state_has_transitions() -> None:
    assert set(TRANSITIONS) == set(State)
    for state, targets in TRANSITIONS.items():
        assert targets, state
    # The only self-transition: a worker that died while starting is started again at once.
    assert {state for state, targets in TRANSITIONS.items() if state in targets} == {State.STARTING}


def test_stopped_and_failed_can_only_start_again() -> None:
    assert TRANSITIONS[State.STOPPED] == {State.STARTING}
    assert TRANSITIONS[State.FAILED] == {State.STARTING}


def test_backoff_ends_in_a_start_or_a_stop() -> None:
    assert TRANSITIONS[State.BACKOFF] == {State.STARTING, State.STOPPED}


def test_only_a_started_process_can_run_and_be_stopped() -> None:
    assert {state for state, targets in TRANSITIONS.items() if State.RUNNING in targets} == {
        State.STARTING
    }
    assert {state for state, targets in TRANSITIONS.items() if State.STOPPING in targets} == {
        State.STARTING,
        State.RUNNING,
    }


def test_nothing_but_a_start_leads_back_to_running() -> None:
    # RUNNING -> STARTING is an after-exit decision (restart now), so it is in the table.
    assert State.STARTING in TRANSITIONS[State.RUNNING]
    assert State.RUNNING not in TRANSITIONS[State.STOPPING]
    assert State.RUNNING not in TRANSITIONS[State.BACKOFF]

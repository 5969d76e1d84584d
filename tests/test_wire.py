"""Python values through real Cap'n Proto messages, and real RPC over a socketpair.

Every test that talks RPC runs inside ``protocol.run``, which gives pycapnp the KJ loop
it needs beside asyncio.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, Optional, TypeVar

import capnp
import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st

from ipc.capnp import protocol, wire
from ipc.capnp.protocol import Connection
from ipc.capnp.proxy import Deadlines
from ipc.interfaces import (
    CallTimeout,
    Control,
    ExitInfo,
    InternalError,
    Node,
    SplitdError,
    SupervisorStatus,
    UnknownWorker,
    Unsupported,
    Wallet,
    WorkerStatus,
    WorkerUnavailable,
)
from logs.structured import Record, configure

T = TypeVar("T")

SCHEMA = capnp.load(str(Path(protocol.__file__).with_name("control.capnp")))

STATUS = SupervisorStatus(
    pid=1234,
    uptime_s=98.25,
    version="0.1.0",
    workers=[
        WorkerStatus("node", "node", "running", 2001, 3, 2, 12.5, ExitInfo(at="t1", code=1)),
        WorkerStatus(
            "hot", "wallet", "backoff", None, 5, 4, None, ExitInfo("t2", signal="SIGKILL")
        ),
        WorkerStatus("cold", "wallet", "stopped", None, 1, 0, None, ExitInfo("t3", code=0)),
        WorkerStatus("new", "wallet", "starting", 0, 0, 0, 0.0, None),
    ],
)


def round_trip(value: SupervisorStatus) -> SupervisorStatus:
    """encode -> a real message -> its bytes -> a reader over them -> decode."""
    message = SCHEMA.SupervisorStatus.new_message(**wire.encode(value, SupervisorStatus, 5.0))
    data = message.to_bytes()
    with SCHEMA.SupervisorStatus.from_bytes(data) as reader:
        return wire.decode(reader, SupervisorStatus, 5.0)


# ---------------------------------------------------------------- wire


def test_camel_case_names() -> None:
    assert wire.camel("pid") == "pid"
    assert wire.camel("uptime_s") == "uptimeS"
    assert wire.camel("last_exit") == "lastExit"
    assert wire.camel("handle_notifications") == "handleNotifications"


def test_optional_of() -> None:
    assert wire.optional_of(int | None) is int
    assert wire.optional_of(Optional[str]) is str  # noqa: UP045
    assert wire.optional_of(ExitInfo | None) is ExitInfo
    assert wire.optional_of(int) is None
    assert wire.optional_of(int | str) is None
    assert wire.optional_of(int | str | None) is None


def test_status_round_trips_through_a_message() -> None:
    decoded = round_trip(STATUS)
    assert decoded == STATUS
    assert isinstance(decoded.workers, list)
    assert all(isinstance(worker, WorkerStatus) for worker in decoded.workers)


def test_none_and_zero_stay_apart() -> None:
    zero, none = round_trip(
        SupervisorStatus(
            pid=1,
            uptime_s=0.0,
            version="",
            workers=[
                WorkerStatus("z", "wallet", "running", 0, 0, 0, 0.0, ExitInfo(at="", code=0)),
                WorkerStatus("n", "wallet", "stopped", None, 0, 0, None, None),
            ],
        )
    ).workers
    assert (zero.pid, zero.uptime_s, zero.last_exit) == (0, 0.0, ExitInfo(at="", code=0))
    assert (none.pid, none.uptime_s, none.last_exit) == (None, None, None)


def test_exit_by_signal_has_no_code_and_exit_by_code_no_signal() -> None:
    node, hot, _, _ = round_trip(STATUS).workers
    assert node.last_exit == ExitInfo(at="t1", code=1, signal=None)
    assert hot.last_exit == ExitInfo(at="t2", code=None, signal="SIGKILL")


def test_optional_fields_are_absent_on_the_wire() -> None:
    encoded = wire.encode(STATUS, SupervisorStatus, 5.0)
    node, hot, _, new = encoded["workers"]
    assert node["pid"] == {"value": 2001}
    assert hot["pid"] == {"none": None}
    assert hot["uptimeS"] == {"none": None}
    assert "lastExit" not in new
    assert "signal" not in node["lastExit"]
    message = SCHEMA.SupervisorStatus.new_message(**encoded)
    assert message.workers[1].pid.which() == "none"
    assert message.workers[1].lastExit.code.which() == "none"
    assert not message.workers[3]._has("lastExit")


def test_empty_worker_list_round_trips() -> None:
    status = SupervisorStatus(pid=7, uptime_s=1.0, version="v", workers=[])
    assert round_trip(status) == status


texts = st.text(max_size=40)
exit_infos = st.one_of(
    st.none(),
    st.builds(ExitInfo, at=texts, code=st.integers(-(2**31), 2**31 - 1)),
    st.builds(ExitInfo, at=texts, signal=texts),
)
worker_statuses = st.builds(
    WorkerStatus,
    name=texts,
    role=texts,
    state=texts,
    pid=st.none() | st.integers(-(2**31), 2**31 - 1),
    generation=st.integers(0, 2**32 - 1),
    restarts=st.integers(0, 2**32 - 1),
    uptime_s=st.none() | st.floats(allow_nan=False),
    last_exit=exit_infos,
)
supervisor_statuses = st.builds(
    SupervisorStatus,
    pid=st.integers(-(2**31), 2**31 - 1),
    uptime_s=st.floats(allow_nan=False),
    version=texts,
    workers=st.lists(worker_statuses, max_size=5),
)


@settings(max_examples=200, deadline=None)
@given(status=supervisor_statuses)
def test_any_status_round_trips(status: SupervisorStatus) -> None:
    assert round_trip(status) == status


# ---------------------------------------------------------------- RPC over a socketpair


class FakeSupervisor(Control):
    """A Control that answers from data, raises what it is told to, or never answers."""

    def __init__(self, status: SupervisorStatus = STATUS) -> None:
        self._status = status
        self.restarted: list[str] = []
        self.stop_entered = asyncio.Event()
        self.release = asyncio.Event()

    async def status(self) -> SupervisorStatus:
        return self._status

    async def stop(self) -> None:
        self.stop_entered.set()
        await self.release.wait()  # never, unless the test says so

    async def restart(self, worker: str) -> None:
        if worker.startswith("x"):
            raise UnknownWorker(worker)
        if worker == "boom":
            secret = "/path/to/key"
            raise RuntimeError(f"secret {secret}")
        self.restarted.append(worker)

    async def node(self) -> Node:
        raise Unsupported("no node here")

    async def wallet(self, name: str) -> Wallet:
        raise Unsupported(f"no wallet {name!r} here")

    async def wallet_manager(self) -> Wallet:
        raise Unsupported("no wallet manager here")


async def within(awaitable: Awaitable[T], seconds: float = 10.0) -> T:
    return await asyncio.wait_for(awaitable, seconds)


class Pair:
    """A FakeSupervisor served on one end of a socketpair and a client on the other."""

    def __init__(self, impl: FakeSupervisor, timeout_s: float) -> None:
        self.impl = impl
        self.timeout_s = timeout_s
        self.until = asyncio.Event()
        self.server: asyncio.Task[None] | None = None
        self.connection: Connection[Control] | None = None

    async def __aenter__(self) -> Pair:
        server_end, client_end = socket.socketpair()
        self.server = asyncio.create_task(
            protocol.serve(server_end, Control, self.impl, self.until, 5.0)
        )
        self.connection = await within(protocol.connect(client_end, Control, self.timeout_s))
        return self

    @property
    def remote(self) -> Control:
        assert self.connection is not None
        return self.connection.remote

    async def __aexit__(self, *_: object) -> None:
        self.impl.release.set()
        if self.connection is not None:
            self.connection.close()
        self.until.set()
        assert self.server is not None
        await within(self.server)


def serve_and_call(
    body: Callable[[Pair], Awaitable[T]], timeout_s: float = 5.0, impl: FakeSupervisor | None = None
) -> T:
    async def main() -> T:
        async with Pair(impl or FakeSupervisor(), timeout_s) as pair:
            return await body(pair)

    return protocol.run(main())


async def timed(awaitable: Awaitable[Any]) -> tuple[BaseException | None, float]:
    """The exception ``awaitable`` raised (None if it returned) and how long it took."""
    start = time.monotonic()
    try:
        await within(awaitable)
    except SplitdError as error:
        return error, time.monotonic() - start
    return None, time.monotonic() - start


@pytest.fixture
def ipc_log() -> Iterator[list[Record]]:
    """The records the server side logs (structlog is global: restored afterwards)."""
    saved = structlog.get_config()
    records: list[Record] = []
    configure("debug", {"worker": "test"}, sink=records.append)
    yield records
    structlog.reset_defaults()
    structlog.configure(**saved)


def test_status_comes_back_as_equal_dataclasses() -> None:
    result = serve_and_call(lambda pair: pair.remote.status())
    assert result == STATUS
    assert type(result) is SupervisorStatus
    assert type(result.workers[0].last_exit) is ExitInfo


def test_arguments_reach_the_implementation() -> None:
    impl = FakeSupervisor()

    async def body(pair: Pair) -> None:
        assert await pair.remote.restart("wallet") is None
        assert await pair.remote.restart(worker="nöde €") is None

    serve_and_call(body, impl=impl)
    assert impl.restarted == ["wallet", "nöde €"]


def test_a_domain_error_arrives_as_the_same_class_and_message() -> None:
    async def body(pair: Pair) -> None:
        with pytest.raises(UnknownWorker) as caught:
            await pair.remote.restart("xavier")
        assert caught.value.message == "xavier"
        assert str(caught.value) == "xavier"
        # The connection is still good afterwards.
        assert await pair.remote.status() == STATUS

    serve_and_call(body)


def test_an_unexpected_error_arrives_as_internal_error_without_details(
    ipc_log: list[Record],
) -> None:
    async def body(pair: Pair) -> None:
        with pytest.raises(InternalError) as caught:
            await pair.remote.restart("boom")
        message = caught.value.message
        assert "secret" not in message
        assert "/path/to/key" not in message
        assert "Traceback" not in message
        assert "RuntimeError" not in message
        assert message == "internal error in the supervisor; its log has the details"
        assert caught.value.__cause__ is None

    serve_and_call(body)
    # The details stay on the server's side, in its log.
    (failed,) = [r for r in ipc_log if r["event"] == "ipc_call_failed"]
    assert failed["interface"] == "Control"
    assert failed["method"] == "restart"
    assert "RuntimeError: secret /path/to/key" in failed["exception"]


def test_concurrent_calls_get_their_own_answers() -> None:
    names = [f"x{n}" if n % 2 else f"w{n}" for n in range(20)]

    async def body(pair: Pair) -> list[Any]:
        calls = [pair.remote.restart(name) for name in names] + [pair.remote.status()]
        return await within(asyncio.gather(*calls, return_exceptions=True))

    impl = FakeSupervisor()
    *restarts, status = serve_and_call(body, impl=impl)
    assert status == STATUS
    for name, outcome in zip(names, restarts, strict=True):
        if name.startswith("x"):
            assert isinstance(outcome, UnknownWorker)
            assert outcome.message == name
        else:
            assert outcome is None
    assert sorted(impl.restarted) == sorted(n for n in names if not n.startswith("x"))


def test_a_thousand_pipelined_calls_all_complete() -> None:
    """The call path keeps no per-connection lock: calls in flight at once all finish."""
    names = [f"w{n}" for n in range(1000)]

    async def body(pair: Pair) -> list[Any]:
        return await within(asyncio.gather(*(pair.remote.restart(name) for name in names)))

    impl = FakeSupervisor()
    outcomes = serve_and_call(body, impl=impl)
    assert outcomes == [None] * len(names)
    assert sorted(impl.restarted) == sorted(names)


def test_named_and_positional_arguments_reach_the_server_alike() -> None:
    async def body(pair: Pair) -> None:
        await pair.remote.restart("positional")
        await pair.remote.restart(worker="named")

    impl = FakeSupervisor()
    serve_and_call(body, impl=impl)
    assert impl.restarted == ["positional", "named"]


def test_a_call_that_is_never_answered_times_out() -> None:
    async def body(pair: Pair) -> tuple[BaseException | None, float, SupervisorStatus]:
        error, elapsed = await timed(pair.remote.stop())
        assert pair.impl.stop_entered.is_set()  # it reached the server, which sat on it
        # A timed-out call does not spoil the connection.
        return error, elapsed, await pair.remote.status()

    error, elapsed, status = serve_and_call(body, timeout_s=0.3)
    assert isinstance(error, CallTimeout)
    assert error.message == "the supervisor did not answer within 0.3s"
    assert 0.29 <= elapsed < 2.0
    assert status == STATUS


def test_a_peer_that_never_speaks_times_out() -> None:
    """A hung process: its socket is open, nothing answers."""

    async def main() -> tuple[BaseException | None, float]:
        silent, client_end = socket.socketpair()
        connection = await protocol.connect(client_end, Control, 0.3)
        try:
            return await timed(connection.remote.status())
        finally:
            connection.close()
            silent.close()

    error, elapsed = protocol.run(main())
    assert isinstance(error, CallTimeout)
    assert 0.29 <= elapsed < 2.0


def test_each_call_in_flight_keeps_its_own_deadline() -> None:
    """One timer watches a proxy's calls: a later call is not cut short by an earlier one's
    deadline, and an answer that comes while an older call waits is not held up."""

    async def body(pair: Pair) -> tuple[Any, ...]:
        first = asyncio.ensure_future(timed(pair.remote.stop()))  # never answered
        await within(pair.impl.stop_entered.wait())
        await asyncio.sleep(pair.timeout_s / 2)  # the second call starts half a deadline later
        second = asyncio.ensure_future(timed(pair.remote.stop()))
        status = await within(pair.remote.status())  # answered meanwhile, not held up:
        held = first.done()  # the first call's deadline has not come yet
        return status, held, await first, await second

    status, held, (first, first_elapsed), (second, second_elapsed) = serve_and_call(
        body, timeout_s=0.4
    )
    assert status == STATUS and not held
    assert isinstance(first, CallTimeout) and isinstance(second, CallTimeout)
    # Each at its own deadline, not before: the second not cut at the first's (at ~0.2 s).
    assert first_elapsed >= 0.39 and second_elapsed >= 0.39


def test_a_call_cancelled_by_its_caller_is_cancelled_not_timed_out() -> None:
    async def body(pair: Pair) -> tuple[bool, BaseException | None, SupervisorStatus]:
        call = asyncio.ensure_future(pair.remote.stop())
        await within(pair.impl.stop_entered.wait())
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        # The proxy's deadlines go on: a later call still times out, and only that call.
        later, _ = await timed(pair.remote.stop())
        return call.cancelled(), later, await within(pair.remote.status())

    cancelled, later, status = serve_and_call(body, timeout_s=0.3)
    assert cancelled
    assert isinstance(later, CallTimeout)
    assert status == STATUS


def test_a_cancel_from_elsewhere_as_the_deadline_passes_stays_a_cancel() -> None:
    """The deadline's cancellation becomes ``CallTimeout``; one from elsewhere in the same
    moment (a server shutting down its handlers) must not be swallowed with it."""

    async def main() -> list[tuple[bool, int]]:
        outcomes = []
        for also_from_elsewhere in (False, True):
            deadlines = Deadlines(0.0)

            async def call(deadlines: Deadlines) -> tuple[bool, int]:
                token = object()
                deadlines.start(token)
                try:
                    await asyncio.Event().wait()
                except asyncio.CancelledError:
                    task = asyncio.current_task()
                    assert task is not None
                    return deadlines.finish(token), task.cancelling()
                raise AssertionError("never answered")

            task = asyncio.ensure_future(call(deadlines))
            await asyncio.sleep(0)  # the call is in flight
            deadlines._expire()  # its deadline passes: the timer's work, now
            if also_from_elsewhere:
                task.cancel()
            outcomes.append(await task)
        return outcomes

    timed_out_alone, timed_out_and_cancelled = asyncio.run(main())
    assert timed_out_alone == (True, 0)
    assert timed_out_and_cancelled == (False, 1)


def test_setting_until_during_a_call_makes_it_worker_unavailable() -> None:
    async def body(pair: Pair) -> tuple[BaseException | None, float]:
        call = asyncio.ensure_future(timed(pair.remote.stop()))
        await within(pair.impl.stop_entered.wait())
        pair.until.set()
        result = await within(call)
        assert pair.server is not None
        await within(pair.server, 3.0)
        return result

    error, elapsed = serve_and_call(body, timeout_s=30.0)
    assert isinstance(error, WorkerUnavailable)
    # serve() waits up to a second for the peer to hang up after ``until``; no longer.
    assert elapsed < 2.0


def test_server_going_away_during_a_call_makes_it_worker_unavailable_at_once() -> None:
    async def body(pair: Pair) -> tuple[BaseException | None, float, BaseException | None]:
        call = asyncio.ensure_future(timed(pair.remote.stop()))
        await within(pair.impl.stop_entered.wait())
        assert pair.server is not None
        pair.server.cancel()  # the server's end is closed, as when its process dies
        error, elapsed = await within(call)
        later, _ = await timed(pair.remote.status())
        assert pair.connection is not None
        await within(pair.connection.disconnected(), 2.0)
        return error, elapsed, later

    async def main() -> tuple[BaseException | None, float, BaseException | None]:
        pair = Pair(FakeSupervisor(), timeout_s=30.0)
        await pair.__aenter__()
        try:
            return await body(pair)
        finally:
            assert pair.connection is not None
            pair.connection.close()
            assert pair.server is not None
            await asyncio.gather(pair.server, return_exceptions=True)

    error, elapsed, later = protocol.run(main())
    assert isinstance(error, WorkerUnavailable)
    assert elapsed < 1.0
    assert isinstance(later, WorkerUnavailable)  # and so is every call after it


def test_a_dead_peer_is_worker_unavailable_not_a_hang() -> None:
    async def main() -> tuple[BaseException | None, float]:
        dead, client_end = socket.socketpair()
        connection = await protocol.connect(client_end, Control, 30.0)
        dead.close()
        try:
            return await timed(connection.remote.status())
        finally:
            connection.close()

    error, elapsed = protocol.run(main())
    assert isinstance(error, WorkerUnavailable)
    assert elapsed < 1.0


def test_calls_after_closing_our_end_are_worker_unavailable() -> None:
    async def main() -> tuple[BaseException | None, bool]:
        pair = Pair(FakeSupervisor(), timeout_s=30.0)
        await pair.__aenter__()
        assert pair.connection is not None
        assert await pair.remote.status() == STATUS
        pair.connection.close()
        error, _ = await timed(pair.remote.status())
        assert pair.server is not None
        await within(pair.server, 3.0)  # the server notices and returns by itself
        return error, pair.until.is_set()

    error, until_set = protocol.run(main())
    assert isinstance(error, WorkerUnavailable)
    assert not until_set


def test_the_call_log_summary_hides_secrets_and_bulk() -> None:
    from ipc.capnp.proxy import summarize

    summary = summarize(
        {"passphrase": "hunter2", "tx": b"\x00" * 5000, "address": "bcrt1q" + "x" * 500}
    )
    assert "hunter2" not in summary
    assert "passphrase=<redacted>" in summary
    assert "tx=<5000 bytes>" in summary
    assert len(summary) <= 240


def test_a_parameter_called_name_reaches_the_server() -> None:
    # pycapnp's cap.method(**kwargs) keeps `name` for itself; the proxy must not use it.
    async def body(pair: Pair) -> None:
        with pytest.raises(Unsupported, match="no wallet 'mine' here"):
            await pair.remote.wallet("mine")

    serve_and_call(body)


def test_the_call_log_is_one_record_per_call_at_debug_and_nothing_above(ipc_log) -> None:
    async def body(pair: Pair) -> None:
        await pair.remote.status()
        with pytest.raises(UnknownWorker):
            await pair.remote.restart("xyz")

    serve_and_call(body)
    calls = [r for r in ipc_log if r["event"] == "ipc_call"]
    assert [(r["interface"], r["method"], r["outcome"]) for r in calls] == [
        ("Control", "status", "ok"),
        ("Control", "restart", "unknown_worker"),
    ]
    assert calls[1]["args"] == "worker='xyz'"
    assert calls[0]["request_id"] < calls[1]["request_id"]
    assert all(r["duration_ms"] >= 0 for r in calls)


def test_with_debug_off_a_call_logs_nothing(ipc_log) -> None:
    configure("info", {"worker": "test"}, sink=ipc_log.append)
    serve_and_call(lambda pair: pair.remote.status())
    assert not [r for r in ipc_log if r["event"] == "ipc_call"]

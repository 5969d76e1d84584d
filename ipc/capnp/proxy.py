"""One generic client proxy and one generic server adapter for every interface.

``client(Chain, cap, timeout_s)`` returns an object that *is* a ``Chain``:
each abstract method sends the call and turns the reply back into Python
values, or into the ``SplitdError`` subclass the server raised.
``server(Chain, impl, timeout_s)`` wraps any implementation for pycapnp.
Both are derived from the interface's method signatures, so adding a method
means adding it to the interface and the schema, nothing here.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import itertools
import logging
import re
import time
import typing
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import capnp
import structlog

from ipc.capnp.schemas import SCHEMAS
from ipc.capnp.wire import (
    SCALARS,
    camel,
    decode,
    decode_fields,
    encode,
    encode_fields,
    optional_of,
)
from ipc.interfaces import (
    CallTimeout,
    InternalError,
    RequestTooLarge,
    SplitdError,
    WorkerUnavailable,
)

T = TypeVar("T")
log = structlog.get_logger("ipc")
SUMMARY_CHARS = 120
# A peer reads at most kj's default traversal limit (8 Mi words) in one message, and
# hangs up on a larger one: refuse it here, with a reason, before sending anything.
MAX_REQUEST_BYTES = 8 * 1024 * 1024 * 8 - 64 * 1024  # the rest is for the call's envelope
SECRET_NAMES = re.compile(r"pass|seed|secret|priv|key|mnemonic", re.IGNORECASE)
# RPC methods whose params carry a passphrase or a private key: Core's console keeps them
# out of its history (src/qt/rpcconsole.cpp, historyFilter), and our call log shows none
# of their params. ``execute_rpc(method, params)`` carries them as one JSON text.
SECRET_RPC_METHODS = frozenset(
    {
        "createwallet",
        "encryptwallet",
        "importdescriptors",
        "importmulti",
        "importprivkey",
        "migratewallet",
        "sethdseed",
        "signmessagewithprivkey",
        "signrawtransactionwithkey",
        "walletpassphrase",
        "walletpassphrasechange",
    }
)
_request_ids = itertools.count(1)


@dataclass(frozen=True)
class Method:
    name: str
    wire_name: str
    params: tuple[tuple[str, Any], ...]
    returns: Any  # None for a method that returns nothing

    @functools.cached_property
    def request(self) -> str:
        """The name of the capability's request factory for this method."""
        return f"{self.wire_name}_request"

    @functools.cached_property
    def bounded(self) -> bool:
        """Whether every request fits a message whatever its values (only scalars): then
        its size is not worth measuring."""
        return all(optional_of(hint) in SCALARS or hint in SCALARS for _, hint in self.params)


@functools.cache
def methods_of(interface: type) -> tuple[Method, ...]:
    found = []
    for name in sorted(interface.__abstractmethods__):
        function = getattr(interface, name)
        hints = typing.get_type_hints(function)
        params = tuple(
            (param, hints[param]) for param in list(inspect.signature(function).parameters)[1:]
        )
        returns = hints.get("return")
        found.append(Method(name, camel(name), params, None if returns is type(None) else returns))
    return tuple(found)


def summarize(arguments: Mapping[str, Any]) -> str:
    """Arguments for the call log, cut short: bytes by length only, secrets not at all.

    Keys and seeds never cross a process boundary by design; a passphrase on
    its way to the wallet does, so anything named like a secret is hidden, and so are
    the params of an RPC method that takes one.
    """
    parts = []
    secret_rpc = arguments.get("method") in SECRET_RPC_METHODS
    for name, value in arguments.items():
        if SECRET_NAMES.search(name) or (secret_rpc and name == "params"):
            shown = "<redacted>"
        elif isinstance(value, bytes | bytearray):
            shown = f"<{len(value)} bytes>"
        else:
            shown = repr(value)
        parts.append(f"{name}={shown[:SUMMARY_CHARS]}")
    return ", ".join(parts)[: SUMMARY_CHARS * 2]


class Deadlines:
    """The deadlines of one proxy's calls in flight, watched by one timer.

    Every call through a proxy has the same timeout, so the calls' deadlines fall in the
    order they started: the oldest call is the next to expire, and one timer armed for it
    serves them all. A call costs a dict entry, not a timer of its own (``asyncio.timeout``
    arms and cancels one per call, which is most of what a proxy adds to a raw call).
    The timer belongs to the loop of the call that armed it, as the capability does.
    """

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        # token -> (deadline, task, the task's cancel requests when the call began)
        self._calls: dict[object, tuple[float, asyncio.Task[Any], int]] = {}  # oldest first
        self._expired: dict[object, tuple[asyncio.Task[Any], int]] = {}
        self._timer: asyncio.TimerHandle | None = None

    def start(self, token: object) -> None:
        """Begin the deadline of the current task's call, known by ``token``."""
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a proxy call runs in a task")
        loop = task.get_loop()
        deadline = loop.time() + self.timeout_s
        self._calls[token] = (deadline, task, task.cancelling())
        if self._timer is None:
            self._timer = loop.call_at(deadline, self._expire)

    def finish(self, token: object) -> bool:
        """End the call's deadline (again: no-op); whether it expired and nothing else
        cancelled its task meanwhile. The deadline's own cancellation is taken back then,
        to become ``CallTimeout``; a cancellation from elsewhere stays one (as
        ``asyncio.timeout`` counts them)."""
        self._calls.pop(token, None)
        expired = self._expired.pop(token, None)
        if expired is None:
            return False
        task, cancelling = expired
        return task.uncancel() <= cancelling

    def _expire(self) -> None:
        self._timer = None
        while self._calls:
            token, (deadline, task, cancelling) = next(iter(self._calls.items()))
            loop = task.get_loop()
            if deadline > loop.time():
                self._timer = loop.call_at(deadline, self._expire)
                return
            del self._calls[token]
            self._expired[token] = (task, cancelling)
            task.cancel()


class Proxy:
    """Base of every client proxy: the capability it calls, and its calls' deadline."""

    def __init__(self, cap: Any, timeout_s: float) -> None:
        self._cap = cap
        self._timeout_s = timeout_s
        self._deadlines = Deadlines(timeout_s)
        self._factories: dict[str, Callable[[], Any]] = {}  # request factories, by name
        # Decided once: with debug off a call formats nothing for the log.
        self._debug = log.bind().is_enabled_for(logging.DEBUG)

    async def _logged(self, interface: type, method: Method, arguments: dict[str, Any]) -> Any:
        started = time.perf_counter()
        outcome = "ok"
        try:
            return await self._send(interface, method, arguments)
        except SplitdError as error:
            outcome = error.code
            raise
        finally:
            log.debug(
                "ipc_call",
                interface=interface.__name__,
                method=method.name,
                request_id=next(_request_ids),
                duration_ms=round((time.perf_counter() - started) * 1000, 3),
                outcome=outcome,
                args=summarize(arguments),
            )

    async def _send(self, interface: type, method: Method, arguments: dict[str, Any]) -> Any:
        # Built field by field: pycapnp's ``cap.method(**kwargs)`` would take a
        # parameter called ``name`` for its own.
        factory = self._factories.get(method.request)
        if factory is None:
            factory = self._factories[method.request] = getattr(self._cap, method.request)
        builder = factory()
        if method.params:
            for field, value in encode_fields(method.params, arguments, self._timeout_s).items():
                setattr(builder, field, value)
            if not method.bounded:
                size = builder.total_size.word_count * 8
                if size > MAX_REQUEST_BYTES:
                    limit = MAX_REQUEST_BYTES
                    raise RequestTooLarge(f"request too large ({size} bytes, limit {limit})")
        token = object()
        self._deadlines.start(token)
        try:
            reply = await builder.send()
        except asyncio.CancelledError:
            if self._deadlines.finish(token):
                peer = interface.peer
                raise CallTimeout(f"{peer} did not answer within {self._timeout_s:g}s") from None
            raise
        except capnp.KjException as error:
            if error.type == "DISCONNECTED":
                raise WorkerUnavailable(lost_message(interface)) from None
            raise InternalError(f"the call to {interface.peer} failed ({error.type})") from None
        finally:
            self._deadlines.finish(token)
        if reply._has("error"):
            error = reply.error
            raise SplitdError.from_code(error.code, error.message, error.rpcCode)
        if method.returns is None:
            return None
        return decode(reply.result, method.returns, self._timeout_s)


def lost_message(interface: type) -> str:
    """What a caller is told when its peer's connection ends mid-call: a supervised peer
    is being brought back (the supervisor restarts it), so the call may be retried."""
    default = f"{interface.peer} restarted during the call; retry"
    return str(getattr(interface, "lost", default))


def client(interface: type[T], cap: Any, timeout_s: float) -> T:
    """A proxy implementing ``interface`` over the capability ``cap``.

    Every call has a deadline (``CallTimeout``); a dead or disconnected peer is
    ``WorkerUnavailable``, immediately for calls in flight.
    """
    proxy: T = _proxy_class(interface)(cap.cast_as(SCHEMAS[interface]), timeout_s)
    return proxy


@functools.cache
def _proxy_class(interface: type) -> type:
    def make(method: Method) -> Callable[..., Coroutine[Any, Any, Any]]:
        signature = inspect.signature(getattr(interface, method.name))
        names = tuple(signature.parameters)[1:]  # after self

        async def call(self: Proxy, *args: Any, **kwargs: Any) -> Any:
            if not kwargs and len(args) == len(names):  # every argument, in order: no bind
                arguments = dict(zip(names, args, strict=True))
            else:
                arguments = signature.bind(self, *args, **kwargs).arguments
                arguments.pop(next(iter(signature.parameters)))
            if self._debug:
                return await self._logged(interface, method, arguments)
            return await self._send(interface, method, arguments)

        call.__name__ = method.name
        return call

    namespace: dict[str, Any] = {m.name: make(m) for m in methods_of(interface)}
    return type(f"{interface.__name__}Proxy", (Proxy, interface), namespace)


def prepare() -> None:
    """Build every interface's proxy and adapter class now (``ipc.forkready``), not at a
    worker's first call."""
    for interface in SCHEMAS:
        _proxy_class(interface)
        _server_class(interface)


def capability(interface: type[T], value: T, timeout_s: float) -> Any:
    """What to put on the wire for an object passed as ``interface``.

    A proxy we hold is sent as the capability it already is (the peer then
    talks to its origin directly, not through us); our own object is served.
    """
    if isinstance(value, Proxy):
        return value._cap
    return server(interface, value, timeout_s)


def server(interface: type[T], impl: T, timeout_s: float) -> Any:
    """Wrap ``impl`` so pycapnp can serve it as ``interface``'s schema.

    A ``SplitdError`` travels as its code and message; any other exception is
    logged here, with its traceback, and the caller only learns that the call
    failed: no traceback, path or local crosses the boundary. ``timeout_s``
    is the deadline of calls on capabilities that callers pass in.
    """
    return _server_class(interface)(impl, timeout_s)


@functools.cache
def _server_class(interface: type) -> type:
    def make(method: Method) -> Callable[[Any, Any], Coroutine[Any, Any, None]]:
        async def handle(self: Any, context: Any) -> None:
            kwargs = (
                decode_fields(context.params, method.params, self._timeout_s)
                if method.params
                else {}
            )
            try:
                result = await getattr(self._impl, method.name)(**kwargs)
            except SplitdError as error:
                context.results.error = {
                    "code": error.code,
                    "message": error.message,
                    "rpcCode": error.rpc_code,
                }
                return
            except Exception:
                log.exception("ipc_call_failed", interface=interface.__name__, method=method.name)
                context.results.error = {
                    "code": InternalError.code,
                    "message": f"internal error in {interface.peer}; its log has the details",
                }
                return
            if method.returns is not None:
                context.results.result = encode(result, method.returns, self._timeout_s)

        return handle

    def init(self: Any, impl: Any, timeout_s: float) -> None:
        self._impl = impl
        self._timeout_s = timeout_s

    namespace: dict[str, Any] = {f"{m.wire_name}_context": make(m) for m in methods_of(interface)}
    namespace["__init__"] = init
    return type(f"{interface.__name__}Server", (SCHEMAS[interface].Server,), namespace)

"""One generic client proxy and one generic server adapter for every interface.

``client(Init, cap)`` returns an object that *is* an ``Init``: each abstract
method sends the call and turns the reply back into Python values or into the
``SplitdError`` subclass the server raised. ``server(Init, impl, schema)``
wraps any implementation for pycapnp. Both are derived from the interface's
method signatures, so adding a method means adding it to the interface and
the schema, nothing here.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import typing
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import capnp
import structlog

from ipc.capnp.wire import camel, decode, encode, encode_fields
from ipc.capnp.wire import decode_fields as decode_params
from ipc.interfaces import CallTimeout, InternalError, SplitdError, WorkerUnavailable

T = TypeVar("T")
log = structlog.get_logger("ipc")


@dataclass(frozen=True)
class Method:
    name: str
    wire_name: str
    params: tuple[tuple[str, Any], ...]
    returns: Any  # None for a method that returns nothing


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


def client(interface: type[T], cap: Any, timeout_s: float) -> T:
    """A proxy implementing ``interface`` over the capability ``cap``.

    Every call has a deadline (``CallTimeout``); a dead or disconnected peer is
    ``WorkerUnavailable``, immediately for calls in flight.
    """
    proxy_class = _proxy_class(interface)
    return proxy_class(cap, timeout_s)


@functools.cache
def _proxy_class(interface: type) -> type:
    def make(method: Method) -> Callable[..., Coroutine[Any, Any, Any]]:
        async def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            bound = inspect.signature(getattr(interface, method.name)).bind(self, *args, **kwargs)
            request = encode_fields(method.params, bound.arguments)
            reply = await self._send(method, request)
            if reply.error.code:
                raise SplitdError.from_code(reply.error.code, reply.error.message)
            return None if method.returns is None else decode(reply.result, method.returns)

        call.__name__ = method.name
        return call

    namespace: dict[str, Any] = {m.name: make(m) for m in methods_of(interface)}
    namespace["__init__"] = _proxy_init
    namespace["_send"] = _proxy_send
    return type(f"{interface.__name__}Proxy", (interface,), namespace)


def _proxy_init(self: Any, cap: Any, timeout_s: float) -> None:
    self._cap = cap
    self._timeout_s = timeout_s


async def _proxy_send(self: Any, method: Method, request: dict[str, Any]) -> Any:
    where = f"{type(self).__name__.removesuffix('Proxy')}.{method.name}"
    try:
        return await asyncio.wait_for(
            getattr(self._cap, method.wire_name)(**request), self._timeout_s
        )
    except TimeoutError:
        raise CallTimeout(f"{where}: no answer within {self._timeout_s:g}s") from None
    except capnp.KjException as error:
        if error.type == "DISCONNECTED":
            raise WorkerUnavailable(f"{where}: peer disconnected") from None
        raise InternalError(f"{where}: transport failure ({error.type})") from None


def server(interface: type[T], impl: T, schema: Any) -> Any:
    """Wrap ``impl`` so pycapnp can serve it as ``schema``.

    A ``SplitdError`` travels as its code and message; any other exception is
    logged here, with its traceback, and the caller only learns that the call
    failed: no traceback, path or local crosses the boundary.
    """
    return _server_class(interface, schema)(impl)


@functools.cache
def _server_class(interface: type, schema: Any) -> type:
    def make(method: Method) -> Callable[[Any, Any], Coroutine[Any, Any, None]]:
        async def handle(self: Any, context: Any) -> None:
            kwargs = decode_params(context.params, method.params)
            try:
                result = await getattr(self._impl, method.name)(**kwargs)
            except SplitdError as error:
                context.results.error = {"code": error.code, "message": error.message}
                return
            except Exception:
                log.exception("ipc_call_failed", interface=interface.__name__, method=method.name)
                context.results.error = {
                    "code": InternalError.code,
                    "message": f"{interface.__name__}.{method.name} failed; see the worker's log",
                }
                return
            if method.returns is not None:
                context.results.result = encode(result, method.returns)

        return handle

    namespace: dict[str, Any] = {f"{m.wire_name}_context": make(m) for m in methods_of(interface)}
    namespace["__init__"] = _server_init
    return type(f"{interface.__name__}Server", (schema.Server,), namespace)


def _server_init(self: Any, impl: Any) -> None:
    self._impl = impl

"""One structlog set-up for every process: JSON records with the process's identity.

Workers write one JSON line per record to stdout, a pipe the supervisor reads;
the supervisor hands its own records straight to its sink. Both run the same
processors, so every record in ``splitd.jsonl`` has the same shape:
``timestamp``, ``level``, ``event``, ``worker``, ``role``, ``pid``, ``gen``.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Mapping
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

Record = dict[str, Any]

LEVELS = ("debug", "info", "warning", "error", "critical")


def static_context(context: Mapping[str, Any]) -> Processor:
    """Stamp every record with who wrote it, unless the call site said otherwise."""
    frozen = dict(context)

    def add(_logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
        for key, value in frozen.items():
            event_dict.setdefault(key, value)
        return event_dict

    return add


def shared_processors(context: Mapping[str, Any]) -> list[Processor]:
    """The record-shaping steps every process runs, before the final renderer.

    ``format_exc_info`` renders a traceback as plain text: no local variables,
    which could hold a key or a seed.
    """
    return [
        structlog.contextvars.merge_contextvars,
        static_context(context),
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
    ]


def to_json(record: Mapping[str, Any]) -> str:
    """One record as one line; anything JSON cannot encode becomes its ``str``."""
    return json.dumps(record, default=str, separators=(",", ":"), ensure_ascii=False)


def _render_json(_logger: WrappedLogger, _name: str, event_dict: EventDict) -> str:
    return to_json(event_dict)


class SinkLogger:
    """A structlog logger that hands the finished record to a callable instead of a stream."""

    def __init__(self, sink: Callable[[Record], None]) -> None:
        self._sink = sink

    def msg(self, **record: Any) -> None:
        self._sink(record)

    debug = info = warning = warn = error = critical = exception = fatal = msg


def configure(
    level: str,
    context: Mapping[str, Any],
    *,
    sink: Callable[[Record], None] | None = None,
    stream: TextIO | None = None,
) -> None:
    """Configure structlog for this process.

    With ``sink``, finished records go to it as dicts (the supervisor);
    otherwise they are written as JSON lines to ``stream`` (default stdout) and
    flushed one by one, so a crash loses no line already logged.
    """
    processors = shared_processors(context)
    if sink is not None:
        factory: Callable[..., Any] = lambda *_: SinkLogger(sink)  # noqa: E731
    else:
        processors.append(_render_json)
        factory = structlog.PrintLoggerFactory(stream if stream is not None else sys.stdout)
    numeric = logging.getLevelName(level.upper())
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=factory,
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(handlers=[_ToStructlog()], level=numeric, force=True)


class _ToStructlog(logging.Handler):
    """Standard-library records (asyncio's "Task exception was never retrieved", ...) as ours,
    so they reach splitd.jsonl in the same shape instead of bare text on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        structlog.get_logger().log(
            record.levelno, record.getMessage(), logger=record.name, exc_info=record.exc_info
        )

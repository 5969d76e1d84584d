"""One human line per JSON log record, for `splitd logs` and the supervisor's console.

The look follows structlog's ConsoleRenderer (its colors, ``key=value``, quoting only when a
value needs it), but it is not built on it: ConsoleRenderer's columns cannot put
``worker[pid] gen=G`` ahead of the event without rewriting every record first, it raises on a
non-str ``exception``, and importing ``structlog.dev`` pulls in rich. These records come from
other processes (a worker's raw stderr among them), so every field is escaped before it can
reach a terminal: a control sequence in a log line must not drive the reader's terminal.
"""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

_RESET = "\x1b[0m"
_BRIGHT = "\x1b[1m"
_DIM = "\x1b[2m"
_RED = "\x1b[31m"
_GREEN = "\x1b[32m"
_YELLOW = "\x1b[33m"
_BLUE = "\x1b[34m"
_MAGENTA = "\x1b[35m"
_CYAN = "\x1b[36m"

_LEVEL_STYLES = {
    "critical": _RED,
    "error": _RED,
    "warning": _YELLOW,
    "info": _GREEN,
    "debug": _GREEN,
}
_LEVEL_WIDTH = len("critical")
_EVENT_WIDTH = 20
# Keys that have a place of their own in the line; everything else becomes key=value.
_PLACED = frozenset({"timestamp", "level", "event", "worker", "pid", "gen", "exception"})

_CONTROLS = (*range(0x20), *range(0x7F, 0xA0))
_INLINE = {c: f"\\x{c:02x}" for c in _CONTROLS}
# A traceback keeps its line breaks and indentation; nothing else.
_BLOCK = {c: e for c, e in _INLINE.items() if chr(c) not in "\n\t"}


def _inline(value: object) -> str:
    return str(value).translate(_INLINE)


def _value(value: object) -> str:
    """Bare when unambiguous, repr otherwise, as ConsoleRenderer does; repr also escapes."""
    if isinstance(value, str) and value.isprintable() and not any(c in value for c in " ='\""):
        return value
    return repr(value).translate(_INLINE)


def _clock(value: object) -> str:
    """Times stay in UTC, as in the file, so what one reads is what one passes to --since."""
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            return _inline(value)
        return f"{when:%H:%M:%S}.{when.microsecond // 1000:03d}"
    return "" if value is None else _inline(value)


def render(record: Mapping[str, Any], *, colors: bool) -> str:
    """Never raises on an odd record: the console must not die on a worker's malformed line."""

    def paint(text: str, style: str) -> str:
        return f"{style}{text}{_RESET}" if colors and style and text else text

    worker = record.get("worker")
    level = _inline(record.get("level", ""))
    who = _inline("?" if worker is None else worker)
    if (pid := record.get("pid")) is not None:
        who += f"[{_inline(pid)}]"
    # Record order, not sorted: it is the order the logger bound the keys in.
    pairs = [
        f"{paint(_inline(key), _CYAN)}={paint(_value(value), _MAGENTA)}"
        for key, value in record.items()
        if key not in _PLACED and not (key == "role" and value == worker)
    ]
    event = _inline(record.get("event", ""))
    parts = [
        paint(_clock(record.get("timestamp")), _DIM),
        paint(level.ljust(_LEVEL_WIDTH), _LEVEL_STYLES.get(level, "") + _BRIGHT),
        paint(who, _BRIGHT + _BLUE),
    ]
    if "gen" in record:
        parts.append(f"gen={_inline(record['gen'])}")
    parts.append(paint(event.ljust(_EVENT_WIDTH) if pairs else event, _BRIGHT))
    line = " ".join(part for part in (*parts, *pairs) if part)
    exception = record.get("exception")
    if exception:
        line += "\n" + str(exception).rstrip("\n").translate(_BLOCK)
    return line

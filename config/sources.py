"""Reading the three sources: the TOML file, ``SPLITD_*`` env vars, ``--set``.

Each reader returns the entries it understood and one line per thing it did
not, and never stops early: the caller reports every problem of every source
together.

The file is untrusted input in one more sense: whatever ``--config`` names is
read, so it is bounded before it is parsed. Only a regular file is opened (and
``/dev/null``, the usual way to say "no file"), at most ``MAX_FILE_BYTES`` of it
is read, and its nesting is bounded before anything recursive walks it.
"""

import os
import stat
import sys
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from config.errors import show
from config.merge import Entry, KeyPath
from config.models import TOP_LEVEL_SETTINGS

ENV_PREFIX = "SPLITD_"
NON_SETTING_ENV = frozenset({"SPLITD_DATADIR"})
"""Env vars of ours that are not settings, so not errors either."""

DEFAULT_FILE_NAME = "splitd.toml"

MAX_FILE_BYTES = 1024 * 1024
"""Hundreds of times any real config, and small enough to read whole at once."""

MAX_DEPTH = 32
"""Keys and array indices from the top of the file to its deepest value.

Settings are two deep (``[section] key = value``); 32 leaves room for any
value a setting may ever take while keeping every recursive walk of the
document far from Python's recursion limit of 1000.
"""

Read = tuple[list[Entry], list[str]]

_DEV_NULL = os.stat(os.devnull)

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
)


class _Refused(Exception):
    """The content is refused unparsed; the message completes ``config: FILE: ``."""


class _Unreadable(Exception):
    """The file is not opened or not read; the message completes ``config: cannot read FILE: ``."""


def read_file(datadir: Path, config_file: Path | None) -> Read:
    """An explicit file must exist; the default one is optional."""
    path = config_file if config_file is not None else datadir / DEFAULT_FILE_NAME
    if config_file is None and not path.exists():
        return [], []
    name = _printable(str(path))
    try:
        document = _parse(_read_bounded(path).decode())
    except FileNotFoundError:
        problem = f"config: file not found (got {str(path)!r})"
    except _Unreadable as exc:
        problem = f"config: cannot read {name}: {exc}"
    except OSError as exc:
        problem = f"config: cannot read {name}: {exc.strerror or exc}"
    except UnicodeDecodeError as exc:
        problem = f"config: {name}: not UTF-8 text ({exc.reason} at byte {exc.start})"
    except (_Refused, tomllib.TOMLDecodeError) as exc:
        problem = f"config: {name}: {exc}"
    else:
        source = f"file {name}"
        return [Entry(key, value, source) for key, value in _leaves(document, ())], []
    return [], [problem]


def _printable(text: str) -> str:
    """A path is shown as it is unless that would break the line (a newline
    in a file name) or the terminal (an undecodable byte)."""
    return text if text.isprintable() else repr(text)


def _read_bounded(path: Path) -> bytes:
    """Whatever ``--config`` names, the read ends: ``/dev/zero`` never ends,
    a FIFO blocks already on ``open``, and a huge file is no config.

    The kind of file is checked before opening, since opening some devices is
    itself an action (a tape rewinds, a watchdog arms), and again on the open
    descriptor, since the path may have changed in between. ``O_NONBLOCK``
    keeps even that open from waiting for a FIFO's writer.
    """
    info = os.stat(path)
    if os.path.samestat(info, _DEV_NULL):
        return b""
    _refuse_irregular(info.st_mode)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        _refuse_irregular(info.st_mode)
        if info.st_size > MAX_FILE_BYTES:
            raise _Refused("larger than 1 MiB")
        os.set_blocking(fd, True)
        # The size is only a hint (a file may grow, /proc files claim 0):
        # the read itself stops one byte past the limit.
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_FILE_BYTES:
            chunk = os.read(fd, MAX_FILE_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > MAX_FILE_BYTES:
        raise _Refused("larger than 1 MiB")
    return b"".join(chunks)


def _refuse_irregular(mode: int) -> None:
    if stat.S_ISREG(mode):
        return
    kind = next((name for test, name in _KINDS if test(mode)), "of an unknown kind")
    raise _Unreadable(f"not a regular file ({kind})")


def _parse(text: str) -> dict[str, object]:
    """tomllib recurses at every ``[`` and ``{`` and has no limit of its own: its
    RecursionError is the file's fault, not ours. Dotted keys and ``[a.b.c]`` headers
    nest without recursing, so the parsed document is measured too, before anything
    recursive (``_leaves``, pydantic) walks it."""
    try:
        document = tomllib.loads(text)
    except RecursionError:
        raise _Refused(f"nested too deeply (limit {MAX_DEPTH})") from None
    except tomllib.TOMLDecodeError:
        raise
    except ValueError:
        # int() refuses more digits than this; tomllib lets that through.
        limit = sys.get_int_max_str_digits()
        raise _Refused(f"an integer has more than {limit} digits") from None
    if _too_deep(document):
        raise _Refused(f"nested too deeply (limit {MAX_DEPTH})")
    return document


def _too_deep(document: dict[str, object]) -> bool:
    """Whether a value lies more than ``MAX_DEPTH`` keys and indices down;
    with a stack of its own, so that it is not what recurses too deep."""
    stack: list[tuple[object, int]] = [(document, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        if isinstance(node, dict):
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node)
    return False


def _leaves(table: dict[str, object], prefix: KeyPath) -> Iterator[tuple[KeyPath, object]]:
    """Down to single values, so env and ``--set`` override one key of a
    section and not the whole section; an empty table is kept so that an
    unknown ``[section]`` with nothing in it is still reported. Recursive,
    which is safe only on a document ``_parse`` has measured."""
    for key, value in table.items():
        if isinstance(value, dict) and value:
            yield from _leaves(value, (*prefix, key))
        else:
            yield (*prefix, key), value


def _is_setting(path: KeyPath) -> bool:
    """``section.key``, or one of the few settings at the top (``wallets``)."""
    if len(path) == 1:
        return path[0] in TOP_LEVEL_SETTINGS
    return len(path) == 2 and all(path)


def read_env(environ: Mapping[str, str]) -> Read:
    """The prefix is matched in any case: a lower-case ``splitd_...`` is
    surely meant for us, and ignoring it silently is what we avoid."""
    entries: list[Entry] = []
    errors: list[str] = []
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in NON_SETTING_ENV:
            continue
        path = tuple(name[len(ENV_PREFIX) :].lower().split("__"))
        if not _is_setting(path):
            errors.append(
                f"{name}: not a setting; settings are SPLITD_<SECTION>__<KEY> or SPLITD_WALLETS"
                f" (got {show(environ[name])})"
            )
            continue
        entries.append(Entry(path, environ[name], f"env {name}"))
    return entries, errors


def read_overrides(overrides: Sequence[str]) -> Read:
    entries: list[Entry] = []
    errors: list[str] = []
    for item in overrides:
        key, sep, value = item.partition("=")
        parts = tuple(part.strip() for part in key.split("."))
        if not sep or not _is_setting(parts):
            errors.append(
                f"--set: expected SECTION.KEY=VALUE or wallets=NAME,... (got {show(item)})"
            )
            continue
        entries.append(Entry(parts, value, "--set"))
    return entries, errors

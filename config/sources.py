"""Reading the three sources: the TOML file, ``SPLITD_*`` env vars, ``--set``.

Each reader returns the entries it understood and one line per thing it did
not, and never stops early: the caller reports every problem of every source
together.
"""

import tomllib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from config.errors import show
from config.merge import Entry, KeyPath

ENV_PREFIX = "SPLITD_"
NON_SETTING_ENV = frozenset({"SPLITD_DATADIR"})
"""Env vars of ours that are not settings, so not errors either."""

DEFAULT_FILE_NAME = "splitd.toml"

Read = tuple[list[Entry], list[str]]


def read_file(datadir: Path, config_file: Path | None) -> Read:
    """An explicit file must exist; the default one is optional."""
    path = config_file if config_file is not None else datadir / DEFAULT_FILE_NAME
    if config_file is None and not path.exists():
        return [], []
    try:
        with path.open("rb") as stream:
            document = tomllib.load(stream)
    except FileNotFoundError:
        return [], [f"config: file not found (got {str(path)!r})"]
    except tomllib.TOMLDecodeError as exc:
        return [], [f"config: {path}: {exc}"]
    except UnicodeDecodeError as exc:
        return [], [f"config: {path}: not UTF-8 text ({exc.reason} at byte {exc.start})"]
    except OSError as exc:
        return [], [f"config: cannot read {path}: {exc.strerror or exc}"]
    source = f"file {path}"
    return [Entry(key, value, source) for key, value in _leaves(document, ())], []


def _leaves(table: dict[str, object], prefix: KeyPath) -> Iterator[tuple[KeyPath, object]]:
    """Down to single values, so env and ``--set`` override one key of a
    section and not the whole section; an empty table is kept so that an
    unknown ``[section]`` with nothing in it is still reported."""
    for key, value in table.items():
        if isinstance(value, dict) and value:
            yield from _leaves(value, (*prefix, key))
        else:
            yield (*prefix, key), value


def read_env(environ: Mapping[str, str]) -> Read:
    """The prefix is matched in any case: a lower-case ``splitd_...`` is
    surely meant for us, and ignoring it silently is what we avoid."""
    entries: list[Entry] = []
    errors: list[str] = []
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in NON_SETTING_ENV:
            continue
        section, sep, key = name[len(ENV_PREFIX) :].lower().partition("__")
        if not (sep and section and key) or "__" in key:
            errors.append(
                f"{name}: not a setting; settings are SPLITD_<SECTION>__<KEY>"
                f" (got {show(environ[name])})"
            )
            continue
        entries.append(Entry((section, key), environ[name], f"env {name}"))
    return entries, errors


def read_overrides(overrides: Sequence[str]) -> Read:
    entries: list[Entry] = []
    errors: list[str] = []
    for item in overrides:
        key, sep, value = item.partition("=")
        parts = tuple(part.strip() for part in key.split("."))
        if not sep or len(parts) != 2 or not all(parts):
            errors.append(f"--set: expected SECTION.KEY=VALUE (got {show(item)})")
            continue
        entries.append(Entry(parts, value, "--set"))
    return entries, errors

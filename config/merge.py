"""Layering the sources into one tree while remembering who set what.

Pydantic only sees the merged tree; the origin of each leaf is kept beside it
so that an error can name the file, env var or ``--set`` its value came from.
"""

from dataclasses import dataclass, field
from typing import Any

KeyPath = tuple[str, ...]


@dataclass(frozen=True)
class Entry:
    """One value given by one source; ``source`` is how a user would find it
    again (``file /x/splitd.toml``, ``env SPLITD_X__Y``, ``--set``)."""

    path: KeyPath
    value: object
    source: str


@dataclass
class Layers:
    """Later entries win, leaf by leaf. A value a later source replaced is
    never validated, as in any layered configuration: only what takes effect
    can be wrong."""

    tree: dict[str, Any] = field(default_factory=dict, init=False)
    _origin: dict[KeyPath, str] = field(default_factory=dict, init=False)

    def put(self, entry: Entry) -> None:
        node = self.tree
        for depth, part in enumerate(entry.path[:-1], start=1):
            if not isinstance(node.get(part), dict):
                node[part] = {}
                self._forget(entry.path[:depth])
            node = node[part]
        last = entry.path[-1]
        if entry.value == {} and isinstance(node.get(last), dict):
            return  # an empty table adds nothing to one that exists
        node[last] = entry.value
        self._forget(entry.path)
        self._origin[entry.path] = entry.source

    def lookup(self, loc: tuple[object, ...]) -> tuple[bool, object]:
        node: object = self.tree
        for part in loc:
            if not isinstance(node, dict) or part not in node:
                return False, None
            node = node[part]
        return True, node

    def source_of(self, loc: tuple[object, ...]) -> str | None:
        """A section can be fed by several sources; all of them are named."""
        sources = [src for path, src in self._origin.items() if path[: len(loc)] == loc]
        return ", ".join(dict.fromkeys(sources)) or None

    def _forget(self, prefix: KeyPath) -> None:
        for path in [p for p in self._origin if p[: len(prefix)] == prefix]:
            del self._origin[path]

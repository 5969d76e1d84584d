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
    can be wrong.

    Origins are indexed by every prefix of their path as well, so that
    forgetting or naming the sources of a section costs what is in that
    section, not what is in the whole tree: a scan of every origin on every
    ``put`` made a file of 1 MiB of keys take minutes. Nothing here recurses.
    """

    tree: dict[str, Any] = field(default_factory=dict, init=False)
    # Keyed by tuple[object, ...] as pydantic's locations are; KeyPaths all.
    _origin: dict[tuple[object, ...], str] = field(default_factory=dict, init=False)
    # For each proper prefix, the paths in _origin below it, in _origin's order
    # (dicts as ordered sets).
    _below: dict[tuple[object, ...], dict[tuple[object, ...], None]] = field(
        default_factory=dict, init=False
    )

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
        for end in range(len(entry.path)):
            self._below.setdefault(entry.path[:end], {})[entry.path] = None

    def lookup(self, loc: tuple[object, ...]) -> tuple[bool, object]:
        node: object = self.tree
        for part in loc:
            if not isinstance(node, dict) or part not in node:
                return False, None
            node = node[part]
        return True, node

    def source_of(self, loc: tuple[object, ...]) -> str | None:
        """A section can be fed by several sources; all of them are named."""
        sources = [self._origin[path] for path in self._paths_at(loc)]
        return ", ".join(dict.fromkeys(sources)) or None

    def _paths_at(self, loc: tuple[object, ...]) -> list[tuple[object, ...]]:
        """The origins at ``loc`` or below it, in the order they were put."""
        below = list(self._below.get(loc, {}))
        if loc in self._origin:
            # A leaf, or an empty table given before its keys: put before
            # anything below it, since putting it forgets what was below.
            return [loc, *below]
        return below

    def _forget(self, prefix: tuple[object, ...]) -> None:
        for path in self._paths_at(prefix):
            del self._origin[path]
            for end in range(len(path)):
                below = self._below[path[:end]]
                del below[path]
                if not below:
                    del self._below[path[:end]]

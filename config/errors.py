"""Turning every config problem into one line a user can act on.

A line is ``dotted.key: message (got VALUE from SOURCE)``: the key says what
to fix, the source says where, so a bad value need not be hunted for across
the file, the environment and the command line.
"""

import difflib
import re
from collections.abc import Iterator

from pydantic import BaseModel, ValidationError

from config.merge import Layers
from config.models import Settings

_MAX_SHOWN = 60
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


class ConfigError(Exception):
    """All problems found at once, so a user fixes them in one round."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def show(value: object) -> str:
    """Values are shown in TOML's own notation (the config language), on one
    line and cut short, so an error line stays a line.

    Rendering stops as soon as the line is full: every level of nesting
    costs at least one character, so neither a deep value nor a huge one
    costs more than the few dozen characters that are shown."""
    shown: list[str] = []
    length = 0
    for piece in _pieces(value):
        shown.append(piece)
        length += len(piece)
        if length > _MAX_SHOWN:
            return "".join(shown)[: _MAX_SHOWN - 3] + "..."
    return "".join(shown)


def _pieces(value: object) -> Iterator[str]:
    if isinstance(value, bool):
        yield "true" if value else "false"
    elif isinstance(value, str):
        yield repr(value)
    elif isinstance(value, int):
        yield _integer(value)
    elif isinstance(value, dict):
        yield "{"
        for index, (key, item) in enumerate(value.items()):
            yield f"{', ' if index else ''}{_key(key)} = "
            yield from _pieces(item)
        yield "}"
    elif isinstance(value, list):
        yield "["
        for index, item in enumerate(value):
            if index:
                yield ", "
            yield from _pieces(item)
        yield "]"
    else:
        yield str(value)


def _integer(value: int) -> str:
    """Python refuses to print an integer of more than 4300 digits, which a
    TOML hex literal can give; hex has no such limit and is TOML too."""
    try:
        return str(value)
    except ValueError:
        return hex(value)


def _key(part: object) -> str:
    text = str(part)
    return text if _BARE_KEY.fullmatch(text) else repr(text)


def _dotted(loc: tuple[object, ...]) -> str:
    return ".".join(_key(part) for part in loc)


def validation_lines(error: ValidationError, layers: Layers) -> list[str]:
    lines: list[str] = []
    for detail in error.errors(include_url=False):
        loc = detail["loc"]
        kind = detail["type"]
        if kind == "extra_forbidden":
            message = "unknown setting" + _suggestion(loc)
        elif kind == "model_type":
            # Pydantic would name the model class, which a user never sees.
            message = "Input should be a table of settings"
        else:
            message = detail["msg"]
        if kind == "missing":
            lines.append(f"{_dotted(loc)}: {message}")
            continue
        found, value = layers.lookup(loc)
        shown = show(value if found else detail["input"])
        source = layers.source_of(loc) or "defaults"
        lines.append(f"{_dotted(loc)}: {message} (got {shown} from {source})")
    return lines


def _suggestion(loc: tuple[object, ...]) -> str:
    close = difflib.get_close_matches(str(loc[-1]), _known_keys(loc[:-1]), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _known_keys(parent: tuple[object, ...]) -> list[str]:
    model: type[BaseModel] = Settings
    for part in parent:
        field = model.model_fields.get(str(part))
        inner = field.annotation if field else None
        if not (isinstance(inner, type) and issubclass(inner, BaseModel)):
            return []
        model = inner
    return list(model.model_fields)

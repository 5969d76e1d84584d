"""What the ``splitd`` command prints, and how it fails: one line and an exit code.

Every error a user can cause ends in a one-line message and a documented exit code,
never a traceback: 1 for "it did not work" (no supervisor answers, another supervisor
runs, a call failed), 2 for what the user must fix first (a bad argument or setting,
an unusable datadir). A closed stdout (``| head -1``) is a quiet end.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class Failure(Exception):
    """A user-facing failure: its message is printed as one line, its code is the exit code."""

    def __init__(self, message: str, code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.code = code


@contextlib.contextmanager
def writing_stdout() -> Iterator[None]:
    """A command's output that cannot be written (``> /dev/full``) is a one-line failure.

    ``BrokenPipeError`` (``| head -1``: the reader has gone) goes on to ``main``: a quiet end.
    """
    try:
        yield
    except BrokenPipeError:
        raise
    except OSError as error:
        raise Failure(f"splitd: cannot write to stdout: {error.strerror or error}") from None


def emit(text: str) -> None:
    """Print one piece of a command's output."""
    with writing_stdout():
        print(text)


def flush_stdout() -> None:
    """Write out what the command printed while a failure can still be told in one line."""
    if sys.stdout is not None:  # None: started with stdout closed, and print() wrote nothing
        with writing_stdout():
            sys.stdout.flush()


def release_stdout() -> None:
    """Whatever stdout could not take goes to /dev/null instead.

    Left to the interpreter's exit, a flush into a closed pipe would print
    "Exception ignored ... BrokenPipeError" after we have finished.
    """
    if sys.stdout is None:
        return
    try:
        sys.stdout.flush()
    except OSError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def indented(value: Any, depth: int = 0) -> str:
    """JSON indented by two, with every number exactly as the peer wrote it (50.00000000)."""
    pad, inner = "  " * depth, "  " * (depth + 1)
    if isinstance(value, dict) and value:
        items = (f"{inner}{json.dumps(k)}: {indented(v, depth + 1)}" for k, v in value.items())
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list) and value:
        return "[\n" + ",\n".join(inner + indented(v, depth + 1) for v in value) + f"\n{pad}]"
    if isinstance(value, Decimal):
        return format(value, "f")  # str() would print 0E-8 for 0.00000000
    return json.dumps(value)


def print_result(result: str) -> None:
    """As bitcoin-cli prints: a string bare, null as nothing, numbers and the rest as JSON."""
    value = json.loads(result, parse_float=Decimal)
    if isinstance(value, str):
        emit(value)
    elif value is not None:
        emit(indented(value))

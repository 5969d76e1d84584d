"""The counts of Core's test vectors each run checked, for the end of ``make test``'s output."""

from __future__ import annotations

COUNTS: list[str] = []  # "script_tests.json: 1,222/1,222 passed", in the order they ran

"""``help`` as Core writes it (``CRPCTable::help``, ``RPCHelpMan::ToString``), from the specs."""

from __future__ import annotations

import json
from collections.abc import Iterable

from rpc.spec import Method, Param, Type


def overview(methods: Iterable[Method]) -> str:
    """Every visible method's one-line summary, by category, as ``help`` with no argument."""
    lines: list[str] = []
    category = None
    for method in sorted(methods, key=lambda m: m.category + m.name):
        if method.category == "hidden":
            continue
        if method.category != category:
            if category is not None:
                lines.append("")
            category = method.category
            lines.append(f"== {category[:1].upper()}{category[1:]} ==")
        lines.append(summary(method))
    return "\n".join(lines)


def summary(method: Method) -> str:
    """``getblock "blockhash" ( verbosity )``."""
    words = [method.name]
    optional = False
    for param in method.params:
        if param.optional and not optional:
            words.append("(")
            optional = True
        words.append(_oneline(param))
    if optional:
        words.append(")")
    return " ".join(words)


def _oneline(param: Param) -> str:
    name = param.names[0]
    if param.type_str is not None and param.type_str[0]:
        return param.type_str[0]
    if param.type in (Type.STR, Type.HEX):
        return f'"{name}"'
    if param.type is Type.OBJ:
        return "{...}"
    if param.type is Type.ARR:
        return "[...]"
    return name


def method_help(method: Method) -> str:
    """The whole help of one method: summary, description, arguments, result, examples."""
    text = summary(method) + "\n\n" + method.description.strip() + "\n"
    if method.params:
        rows = [
            (f"{i}. {param.names[0]}", _described(param))
            for i, param in enumerate(method.params, 1)
        ]
        text += "\nArguments:\n" + _columns(rows)
    if method.result:
        text += "\nResult:\n" + method.result.rstrip("\n") + "\n"
    if method.examples:
        text += "\nExamples:\n" + "".join(_examples(method.name, args) for args in method.examples)
    return text


def _described(param: Param) -> str:
    if not param.optional:
        fallback = ", required"
    elif param.hint is not None:
        fallback = f", optional, default={param.hint}"
    elif param.default is None:
        fallback = ", optional"
    else:
        fallback = f", optional, default={json.dumps(param.default)}"
    shown = param.type_str[1] if param.type_str is not None else param.type.shown
    return f"({shown}{fallback}) {param.help}".rstrip()


def _columns(rows: list[tuple[str, str]]) -> str:
    pad = max(len(left) for left, _ in rows) + 4
    return "".join(f"{left.ljust(pad)}{right}\n" for left, right in rows)


def _examples(name: str, args: str) -> str:
    params = ", ".join(_json_word(word) for word in args.split()) if args else ""
    return (
        f"> bitcoin-cli {name} {args}\n"
        '> curl --user myusername --data-binary \'{"jsonrpc": "2.0", "id": "curltest", '
        f'"method": "{name}", "params": [{params}]}}\' -H \'content-type: application/json\' '
        "http://127.0.0.1:8332/\n"
    )


def _json_word(word: str) -> str:
    """A bitcoin-cli word as it would stand in JSON params: numbers and JSON as is."""
    try:
        json.loads(word)
    except ValueError:
        return json.dumps(word.strip('"'))
    return word

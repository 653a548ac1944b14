"""Human lines for configuration problems (pydantic errors, YAML syntax errors). Pure.

Each line names the YAML key path (`balancing.method`, `proxmox_api.hosts[2]`), the bad value
and what is expected; no pydantic URLs. Invariants: the value of a secret key is never rendered,
and neither is any value that looks like a credential (`show_value`); `scrub` removes known secret
values from any text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import yaml
from pydantic import ValidationError

SECRET_KEYS = frozenset({"pass", "password", "token_secret"})
REDACTED = "********"

_QUOTED = re.compile(r"'([^']*)'")

_EXPECTED_BY_TYPE: Mapping[str, str] = {
    "int_parsing": "a whole number",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "float_parsing": "a number",
    "float_type": "a number",
    "bool_parsing": "true or false (also yes/no, on/off, 1/0)",
    "bool_type": "true or false (also yes/no, on/off, 1/0)",
    "string_type": "a text string",
    "list_type": "a list, e.g. [a, b]",
    "tuple_type": "a list, e.g. [a, b]",
    "dict_type": "a mapping of key: value",
    "model_type": "a mapping of key: value",
    "model_attributes_type": "a mapping of key: value",
    "finite_number": "a finite number",
}


_OPERATORS: Mapping[str, str] = {
    "greater_than_equal": ">=",
    "greater_than": ">",
    "less_than_equal": "<=",
    "less_than": "<",
}


def key_path(loc: Sequence[str | int]) -> str:
    """`('proxmox_api', 'hosts', 2)` → `proxmox_api.hosts[2]`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_TOKEN_WORD = re.compile(r"[A-Za-z0-9+=_~-]{20,}")


def looks_like_secret(text: str) -> bool:
    """True for text that may be a pasted credential: a UUID (PVE token secrets are UUIDs), or one
    word of 20+ letters, digits and base64/URL punctuation with at least 3 digits and 3 letters
    (host names have dots and paths slashes, so those still show)."""
    stripped = text.strip()
    if _UUID.search(stripped):
        return True
    if not _TOKEN_WORD.fullmatch(stripped):
        return False
    return sum(c.isdigit() for c in stripped) >= 3 and sum(c.isalpha() for c in stripped) >= 3


def mask_secret_like(text: str) -> str:
    """`text` with every UUID and every credential-like word (`looks_like_secret`) replaced by ********."""
    text = _UUID.sub(REDACTED, text)
    return _TOKEN_WORD.sub(lambda m: REDACTED if looks_like_secret(m.group()) else m.group(), text)


def show_value(value: Any) -> str:
    """A value for a message: YAML spellings for true/false/null, long text cut, and text that looks
    like a secret withheld (a token pasted under the wrong key must not be echoed)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and looks_like_secret(value):
        return f"(a {len(value)}-character text that looks like a secret; not shown)"
    try:
        text = mask_secret_like(repr(value))  # a list or mapping may hold a pasted secret too
    except ValueError:  # an int too long for str() (> 4300 digits)
        return "(a number too long to show)"
    return text if len(text) <= 80 else text[:77] + "..."


_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, 0x85)} | {0x2028: "\\u2028", 0x2029: "\\u2029"}


def one_line(text: str) -> str:
    """`text` with control characters and line separators escaped, so a message stays one line."""
    return text.translate(_CONTROL)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` as one line, with every occurrence of a known secret value replaced by ********."""
    text = one_line(text)
    secrets = [one_line(s) for s in secrets]
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        # a very short secret is replaced only where it stands as a quoted value
        text = text.replace(secret if len(secret) >= 4 else repr(secret), REDACTED)
    return text


def _one_of(expected: str) -> str:
    values = _QUOTED.findall(expected)
    return "one of " + ", ".join(values) if values else expected


def _expectation(err: Mapping[str, Any]) -> str:
    kind = str(err["type"])
    ctx: Mapping[str, Any] = err.get("ctx") or {}
    if kind in ("enum", "literal_error"):
        return _one_of(str(ctx.get("expected", "")))
    if kind in _OPERATORS:
        op = _OPERATORS[kind]
        bound = next(iter(ctx.values()), "?")
        return f"a number {op} {bound}"
    if kind in _EXPECTED_BY_TYPE:
        return _EXPECTED_BY_TYPE[kind]
    return str(err.get("msg", kind))


def render_error(err: Mapping[str, Any]) -> str:
    """One pydantic error dict (from `ValidationError.errors()`) as a human line."""
    loc: tuple[str | int, ...] = tuple(err.get("loc", ()))
    is_key = bool(loc) and loc[-1] == "[key]"
    if is_key:
        loc = loc[:-1]
    path = key_path(loc)
    kind = str(err["type"])
    secret = any(isinstance(p, str) and p in SECRET_KEYS for p in loc)
    value = REDACTED if secret else show_value(err.get("input"))
    if kind == "missing":
        return f"{path}: required key is missing"
    if kind == "extra_forbidden":
        # Only the memory/cpu/disk mappings (weights, node_resource_reserve entries) forbid extra keys.
        return f"unknown key '{path}' is not allowed here; expected one of memory, cpu, disk"
    if kind in ("value_error", "assertion_error"):
        reason = str(err.get("msg", "")).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if isinstance(err.get("input"), Mapping):  # a check across keys of a section: name no dict
            return f"{path}: {reason}"
        return f"{path}: {value} is not valid{'; ' if reason.startswith('expected ') else ': '}{reason}"
    what = "key" if is_key else ""
    lead = f"{path}: {what + ' ' if what else ''}{value} is not valid"
    return f"{lead}; expected {_expectation(err)}"


def render_validation_error(exc: ValidationError) -> tuple[str, ...]:
    """Every error of a pydantic `ValidationError`, one line each, in document order."""
    return tuple(render_error(e) for e in exc.errors(include_url=False))


# PyYAML's problem texts → what YAML expected there, in words an admin acts on (first match wins)
_YAML_HINTS: tuple[tuple[str, str], ...] = (
    ("cannot start any token", "a tab or a character YAML does not accept here; indent with spaces only"),
    ("mapping values are not allowed", "a ':' where YAML expected a plain value: a line indented deeper "
     "than the key above it, or a value holding ': ' (quote it)"),
    ("could not find expected ':'", "a line without 'key: value'; each entry needs ':' and a space"),
    ("did not find expected key", "an entry that does not line up with the keys above it; entries of one "
     "section start in the same column"),
    ("expected <block end>", "an entry indented differently from the ones before it (or a '- item' where "
     "a key was expected); line up the indentation"),
    ("expected ',' or ']'", "a [list] that is not closed, or items not separated by ','"),
    ("expected ',' or '}'", "a {mapping} that is not closed, or entries not separated by ','"),
    ("did not find expected '-' indicator", "a list item that does not line up with the '-' items above it"),
    ("found unexpected end of stream", "a quote or bracket opened and never closed"),
    ("found undefined alias", "a '*name' alias with no '&name' anchor; quote values that start with '*'"),
)  # fmt: skip


def render_yaml_error(path: str, exc: yaml.YAMLError) -> str:
    """A YAML syntax error with line/column and what YAML expected there, without echoing the file's
    text (it may hold secrets); the parser's own words follow in parentheses."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or "invalid YAML"
    context = getattr(exc, "context", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    reason = f"{problem} ({context})" if context else str(problem)
    hint = next((h for key, h in _YAML_HINTS if key in str(problem)), None)
    if hint is None:
        return f"{path}: YAML syntax error{where}: {reason}"
    return f"{path}: YAML syntax error{where}: {hint} (parser: {reason})"


def join_problems(header: str, problems: Iterable[str]) -> str:
    """A multi-line message: header, then each problem on its own indented line."""
    return "\n".join([header, *(f"  - {p}" for p in problems)])
